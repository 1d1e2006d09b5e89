"""Shape grids (heads = B*NH, S, DHQK, DHV) of the tuner and of its held-out validation. The held-out shapes lie
between and beyond the tuning grid's points, so that validation exercises the nearest-bucket lookup."""
import itertools

_DIMS = [(64, 128), (128, 256)]

TUNING = {
    "default": [(h, s, dqk, dv) for h, s, (dqk, dv) in itertools.product([1, 4, 16], [256, 1024, 4096], _DIMS)],
    "quick": [(h, s, dqk, dv) for h, s, (dqk, dv) in itertools.product([1, 8], [256, 2048], _DIMS[:1])],
}

HELD_OUT = [(h, s, dqk, dv) for h, s, (dqk, dv) in
            itertools.product([2, 8], [512, 2048], [(48, 96), (96, 192), (256, 512)])]
