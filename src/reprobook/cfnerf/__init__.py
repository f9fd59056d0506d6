"""CF-NeRF: camera-parameter-free NeRF with incremental learning (Yan et al., AAAI 2024,
arXiv:2312.08760).

Modules: ``geometry`` (SO(3)/SE(3) maps, camera conventions, rays, Sim(3) alignment, pose
errors), ``scenes`` (synthetic scenes with exact poses), ``fields`` (SIREN, NeRF's PE MLP with
BARF's annealing, GARF's Gaussian MLP), ``render`` (learned cameras, rays, volume rendering),
``schedule`` (the released incremental schedule), ``train`` (CF-NeRF and the joint baselines),
``evaluate`` (pose errors, test-time pose optimisation, PSNR/SSIM), ``experiments`` (what the
notebooks call; cached runs), ``claims``, ``plots``, ``ns`` (nerfstudio adapters and the capture
loader), ``nsmethod`` (``ns-train cf-nerf``; imported by nerfstudio only), ``gpu_smoke``.
"""
