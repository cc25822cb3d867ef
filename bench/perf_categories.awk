# perf_categories.awk: perf samples of bench/bench_train by category
# (bench/README.md, "Profile"), from the samples `perf script` prints with
# their call chains (perf record -g). The leaf frame's symbol picks the
# category (a SG_SIMD_CLONES kernel's clones, sg_x.avx512f, count as sg_x);
# oneDNN (JIT code and libdnnl.so) is one category here, split by
# kind with bench/dnnl_verbose_sum.awk; kernel samples count as memory when
# under a page fault or munmap, else as other. With -v median_s=S, also ms
# per step (share x S).
#   perf script -F ip,sym,dso -i /tmp/pa.data | awk -v median_s=0.363 -f bench/perf_categories.awk
BEGIN { RS = ""; FS = "\n" }
{
    split($1, f, " "); sym = f[2]; dso = $1; sub(/.*\(/, "", dso)
    if (dso ~ /perf-[0-9]+\.map|libdnnl/) c = "oneDNN (all kinds)"
    else if (dso ~ /kernel/) c = ($0 ~ /page_fault|munmap/) ? "memory" : "other (kernel)"
    else if (sym ~ /^(sg_resize_bilinear|sg_bilinear_)/) c = "resize"
    else if (sym ~ /^(sg_bnf_|sg_batchnorm)/) c = "batch norm (C)"
    else if (sym ~ /^(memcpy|memmove|__memcpy|__memmove|sg_add_rows_|sg_copy_rows|sg_concat|sg_narrow|sg_paste)/) c = "copies (concat, narrow, paste)"
    else if (sym ~ /^(__ieee754_exp|exp|__exp|__ieee754_log|log|fmaxf|__fmaxf|@plt|sg_cross_entropy|sg_ce_|sg_softmax|sg_log_softmax|sg_tile_max_sum|sg_pseudo_label|sg_masked_target)/) c = "softmax / CE / pseudo-labels"
    else if (sym ~ /^(sg_sgd|sg_param_zero)/) c = "optimizer"
    else if (sym ~ /(memset|malloc|free|^_int_|^sg_arena)/ || $1 ~ /operator (new|delete)/) c = "memory"
    else if (sym ~ /^(sg_relu|sg_add_|sg_dnnl_add_into|sg_weighted_sum|sg_dropout|sg_mul|sg_scale)/) c = "elementwise"
    else if (sym ~ /^(sg_global_avgpool|sg_maxpool)/) c = "pooling (C)"
    else c = "other"
    n[c]++; tot++
}
END {
    for (c in n) printf "%-32s %6d samples %6.2f %%%s\n", c, n[c], 100 * n[c] / tot,
        median_s ? sprintf(" %8.1f ms/step", 1000 * median_s * n[c] / tot) : ""
    printf "%-32s %6d samples\n", "total", tot
}
