/* isa.c - which instruction-set level the vector kernels use (infer_isa).
 * One process-wide level: the CPU's best, capped by CAPSTAN_INFER_ISA at
 * startup or by infer_set_isa. Kernels read it once per call (a relaxed
 * atomic load), so that a cap set between runs takes effect at the next. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "infer/internal.h"

static const char *const isa_names[] = {"portable", "avx2", "avx512"};
static atomic_int isa_level = -1;
static pthread_once_t isa_once = PTHREAD_ONCE_INIT;

int infi_isa_cpu_level(void)
{
#ifdef INFI_HAVE_X86_LEVELS
    __builtin_cpu_init();
    if (__builtin_cpu_supports("x86-64-v4"))
        return INFI_ISA_AVX512;
    if (__builtin_cpu_supports("x86-64-v3"))
        return INFI_ISA_AVX2;
#endif
    return INFI_ISA_PORTABLE;
}

static int level_of(const char *name)
{
    for (int i = 0; i < 3; i++)
        if (name && !strcmp(name, isa_names[i]))
            return i;
    return -1;
}

static int capped(int want)
{
    int cpu = infi_isa_cpu_level();
    return want >= 0 && want < cpu ? want : cpu;
}

static void isa_init(void)
{
    /* an unknown name in the variable is ignored: the CPU's best is safe */
    atomic_store(&isa_level, capped(level_of(getenv("CAPSTAN_INFER_ISA"))));
}

int infi_isa_level(void)
{
    int l = atomic_load_explicit(&isa_level, memory_order_relaxed);
    if (l >= 0)
        return l;
    pthread_once(&isa_once, isa_init);
    return atomic_load(&isa_level);
}

const char *infer_isa(void) { return isa_names[infi_isa_level()]; }

const char *infer_set_isa(const char *name)
{
    int want = level_of(name);
    if (want < 0)
        return NULL;
    pthread_once(&isa_once, isa_init);
    atomic_store(&isa_level, capped(want));
    return infer_isa();
}
