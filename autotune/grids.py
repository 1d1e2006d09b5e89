"""Shape grids (heads = B*NH, S, DHQK, DHV) of the tuner and of its held-out validation. The held-out shapes lie
between the tuning grid's points in every dimension, so that validation exercises the nearest-entry lookup
rather than repeating tuned shapes."""
import itertools

TUNING = {
    "default": [(h, s, dqk, 2 * dqk) for h, s, dqk in itertools.product([1, 4, 16], [256, 1024, 4096],
                                                                          [32, 64, 128, 256])],
    # GPU shapes: enough (batch, head) slices and tokens to fill the card.
    "cuda": [(h, s, dqk, 2 * dqk) for h, s, dqk in itertools.product([8, 32, 128], [1024, 4096, 8192], [64, 128])],
    "quick": [(h, s, dqk, 2 * dqk) for h, s, dqk in itertools.product([1, 8], [256, 2048], [64])],
}

HELD_OUT = [(h, s, dqk, 2 * dqk) for h, s, dqk in itertools.product([2, 8], [512, 2048], [48, 96, 192])]

# Between the points of the "cuda" grid.
HELD_OUT_CUDA = [(h, s, dqk, 2 * dqk) for h, s, dqk in itertools.product([16, 64], [2048, 6144], [48, 96])]
