"""Shape grids (heads = B*NH, S, DHQK, DHV) of the tuner and of its held-out validation. The tuning grid has the
head dims models use, powers of two and 1.5 times them: the register blocks of the CPU schedules are 32, 48 or 64
floats wide, so which schedule wins depends on what divides the head dims, which no interpolation between other
head dims can tell. The held-out shapes lie between the tuning grid's points in B*NH and S, so that validation
exercises the nearest-entry lookup rather than repeating tuned shapes."""
import itertools

HEAD_DIMS = [32, 48, 64, 96, 128, 192, 256]


def capped(shapes, largest):
    """The shapes with no more state work (heads * S * DHQK^2) than `largest`: beyond it the winners do not change,
    and the largest shape, (16, 4096, 256, 512), would take a quarter of the tuning time alone."""
    cap = largest[0] * largest[1] * largest[2] ** 2
    return [s for s in shapes if s[0] * s[1] * s[2] ** 2 <= cap]


TUNING = {
    "default": capped([(h, s, dqk, 2 * dqk) for h, s, dqk in itertools.product([1, 4, 16], [256, 1024, 4096],
                                                                                 HEAD_DIMS)], (16, 4096, 192)),
    # GPU shapes: enough (batch, head) slices and tokens to fill the card.
    "cuda": [(h, s, dqk, 2 * dqk) for h, s, dqk in itertools.product([8, 32, 128], [1024, 4096, 8192], [64, 128])],
    "quick": [(h, s, dqk, 2 * dqk) for h, s, dqk in itertools.product([1, 8], [256, 2048], [64])],
}

HELD_OUT = [(h, s, dqk, 2 * dqk) for h, s, dqk in itertools.product([2, 8], [512, 2048], [48, 96, 192])]

# Between the points of the "cuda" grid.
HELD_OUT_CUDA = [(h, s, dqk, 2 * dqk) for h, s, dqk in itertools.product([16, 64], [2048, 6144], [48, 96])]
