"""CF-NeRF: camera-parameter-free NeRF with incremental learning (arXiv:2312.08760).

So far: ``geometry`` (SO(3) maps, camera conventions, rays, Sim(3) alignment and pose errors). The
method, baselines, scenes and notebooks are still to come (issue "Chapter: CF-NeRF").
"""
