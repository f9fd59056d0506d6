"""Bad run settings are refused with a message that names the problem."""

from __future__ import annotations

import pytest

from reprobook.reft import study
from reprobook.reft.config import Fault, GPTConfig, Restore, RunConfig


def test_bad_settings_are_errors(tmp_path):
    base = dict(run_dir=str(tmp_path), shm_root=str(tmp_path / "shm"))
    with pytest.raises(ValueError, match="coding group of more than m"):
        RunConfig(**base, n_nodes=2, parity=2, codec="rs")
    with pytest.raises(ValueError, match="XOR codec tolerates one"):
        RunConfig(**base, n_nodes=4, parity=2, codec="xor")
    with pytest.raises(ValueError, match="do not split into coding groups"):
        RunConfig(**base, n_nodes=5, group_nodes=2)
    with pytest.raises(ValueError, match="unknown fault kind"):
        Fault("reboot", 0, 1)
    with pytest.raises(ValueError, match="divisible by n_head"):
        GPTConfig(d_model=30, n_head=4)
    with pytest.raises(ValueError, match=r"unknown run setting\(s\) \['nodes'\]"):
        study.common_config(nodes=3)
    with pytest.raises(ValueError, match="need a ckpt_dir"):
        RunConfig(**base, ckpt_every=2)
    with pytest.raises(ValueError, match="need a ckpt_dir"):
        RunConfig(**base, cycle=2, cycle_methods=("none", "ckpt"))
    with pytest.raises(ValueError, match=r"unknown overhead method\(s\) \['disk'\]"):
        RunConfig(**base, cycle=2, cycle_methods=("none", "disk"))
    with pytest.raises(ValueError, match="fault rank -1"):
        Fault("torn", -1, 3)
    with pytest.raises(ValueError, match="steps count from 1"):
        Fault("kill", 0, 0)


def test_config_round_trips_through_json(tmp_path):
    cfg = RunConfig(run_dir=str(tmp_path), shm_root="/dev/shm/x", n_nodes=3, faults=(Fault("torn", 1, 4, 2),),
                    cycle=3, cycle_methods=("none", "reft"),
                    restore=Restore("reft", 7), gpt=GPTConfig(n_layer=1, d_model=32, n_head=2))
    cfg.save(tmp_path / "c.json")
    assert RunConfig.load(tmp_path / "c.json") == cfg
    assert cfg.groups() == [[0, 1, 2]] and cfg.ranks_of(2) == [2] and cfg.node_of(2) == 2
