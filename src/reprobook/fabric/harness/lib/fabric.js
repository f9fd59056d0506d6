'use strict';
// A connection to a real Fabric network (v2.4 or later: the Gateway service runs in the peer)
// through @hyperledger/fabric-gateway, from a JSON configuration:
//   { "peerEndpoint": "localhost:7051", "hostAlias": "peer0.org1.example.com",
//     "tlsCertPath": ".../tls/ca.crt", "mspId": "Org1MSP", "certPath": ".../signcerts/cert.pem",
//     "keyPath": ".../keystore/key.pem", "channel": "mychannel", "chaincode": "basic",
//     "function": "CreateAsset", "args": ["{key}", "{payload}"] }
// "{key}" becomes a unique key per transaction, "{payload}" a string of payloadBytes characters.
const crypto = require('node:crypto');
const fs = require('node:fs');
const grpc = require('@grpc/grpc-js');
const { connect, hash, signers } = require('@hyperledger/fabric-gateway');

const REQUIRED = ['peerEndpoint', 'tlsCertPath', 'mspId', 'certPath', 'keyPath', 'channel', 'chaincode'];

function readConfig(file) {
  let cfg;
  try {
    cfg = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (err) {
    throw new Error(`${file}: cannot read the network configuration (${err.message})`);
  }
  const missing = REQUIRED.filter((k) => !cfg[k]);
  if (missing.length) throw new Error(`${file}: missing ${missing.join(', ')}`);
  return { function: 'CreateAsset', args: ['{key}', '{payload}'], ...cfg };
}

function open(cfg) {
  const tls = grpc.credentials.createSsl(fs.readFileSync(cfg.tlsCertPath));
  const options = cfg.hostAlias ? { 'grpc.ssl_target_name_override': cfg.hostAlias } : {};
  const client = new grpc.Client(cfg.peerEndpoint, tls, options);
  const gateway = connect({
    client,
    identity: { mspId: cfg.mspId, credentials: fs.readFileSync(cfg.certPath) },
    signer: signers.newPrivateKeySigner(crypto.createPrivateKey(fs.readFileSync(cfg.keyPath))),
    hash: hash.sha256,
    endorseOptions: () => ({ deadline: Date.now() + 30000 }),
    submitOptions: () => ({ deadline: Date.now() + 30000 }),
    commitStatusOptions: () => ({ deadline: Date.now() + 120000 }),
  });
  const contract = gateway.getNetwork(cfg.channel).getContract(cfg.chaincode);
  return { contract, close: () => { gateway.close(); client.close(); } };
}

module.exports = { readConfig, open };
