# dnnl_verbose_sum.awk: oneDNN 2.6 time per primitive kind, per step, from
# the `onednn_verbose,exec,...` lines of `ONEDNN_VERBOSE=1 bench/bench_train`
# (bench/README.md, "Profile"). Skips the first `skip` exec lines (the
# warm-up steps: a step runs the same primitives each time), divides by `steps`.
#   awk -F, -v skip=822 -v steps=20 -f bench/dnnl_verbose_sum.awk verbose.txt
# Reorders: "activation" when a side is nChw16c (aBcd16b), else "weight".
$1 == "onednn_verbose" && $2 == "exec" {
    if (++n <= skip) next
    k = $4
    if (k == "convolution" || k == "batch_normalization" || k == "pooling_v2") k = k " " $6
    else if (k == "reorder") k = k ($7 ~ /aBcd16b/ ? " activation" : " weight") ($8 ~ /sum/ ? " +sum" : "")
    ms[k] += $NF; cnt[k]++; tot += $NF
}
END {
    for (k in ms) printf "%-40s %5d calls/step %9.2f ms/step\n", k, cnt[k] / steps, ms[k] / steps
    printf "%-40s %5d calls/step %9.2f ms/step (%d exec lines after skip)\n", "total", (n - skip) / steps, tot / steps, n - skip
}
