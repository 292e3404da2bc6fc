/* rng.h -- the unit tests' deterministic PRNG (xorshift64) and normal
 * deviates, one stream per test binary: the same seed every run, so a
 * statistical test that passes passes again. */
#include <math.h>
#include <stdint.h>

static uint64_t rng = 88172645463325252ull;
static double unif(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (double)(rng >> 11) / 9007199254740992.0;
}
static double gauss(void)
{
    double u = unif() + 1e-12, v = unif();
    return sqrt(-2 * log(u)) * cos(2 * M_PI * v);
}
