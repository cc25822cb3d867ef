/*
 * cpu_path.c: selection between the reference CPU kernels and the oneDNN
 * fast path (base.h). Covered by tests/test_dnnl.c.
 */
#include "config.h"
#include "semiseg/base.h"

#include <stdlib.h>
#include <string.h>

static int sg_cpu_path_ = -1; /* -1: not chosen yet */

bool sg_cpu_fast_available(void)
{
#ifdef SG_HAVE_DNNL
    return true;
#else
    return false;
#endif
}

void sg_set_cpu_path(sg_cpu_path path)
{
    SG_CHECK(path == SG_CPU_REFERENCE || sg_cpu_fast_available(),
             "the fast CPU path needs oneDNN: reconfigure after installing libdnnl-dev");
    sg_cpu_path_ = (int)path;
}

sg_cpu_path sg_get_cpu_path(void)
{
    if (sg_cpu_path_ < 0) {
        const char *env = getenv("SG_CPU_PATH");
        if (env && strcmp(env, "reference") == 0)
            sg_cpu_path_ = SG_CPU_REFERENCE;
        else if (env && strcmp(env, "fast") == 0)
            sg_set_cpu_path(SG_CPU_FAST);
        else {
            SG_CHECK(!env || !*env, "SG_CPU_PATH=%s: expected reference or fast", env);
            sg_cpu_path_ = sg_cpu_fast_available() ? SG_CPU_FAST : SG_CPU_REFERENCE;
        }
    }
    return (sg_cpu_path)sg_cpu_path_;
}
