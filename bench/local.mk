# bench/run's helpers (docs/bench.md): sgemm peak, sample comparison, and the
# benchmark model.  Built with everything else so they keep compiling.
noinst_PROGRAMS += bench/peak bench/compare
bench_peak_SOURCES = bench/peak.c
bench_peak_LDADD = $(BLAS_LIBS)
bench_compare_SOURCES = bench/compare.c
bench_compare_LDADD = runtime/libpmmrt.a $(BLAS_LIBS) $(PNG_LIBS) -lm
dist_noinst_SCRIPTS += bench/run bench/nets bench/ab
# (models/local.mk installs and distributes the benchmark model and its weights.)
EXTRA_DIST += models/bench-mlp/gen_weights.py

# bench/schedules (docs/schedules.md): sample quality against network
# evaluations; bench/energy measures the energy distance to the target.
noinst_PROGRAMS += bench/energy
bench_energy_SOURCES = bench/energy.c bench/energy_distance.c bench/energy_distance.h
bench_energy_LDADD = runtime/libpmmrt.a $(BLAS_LIBS) $(PNG_LIBS) -lm
dist_noinst_SCRIPTS += bench/schedules

# bench/gemm (docs/gemm.md): pmmc's LLVM dense kernel against OpenBLAS, the
# measurements behind --gemm=auto.  Built with everything else so it keeps
# compiling; run it by hand (it takes about a minute).
noinst_PROGRAMS += bench/gemm
bench_gemm_SOURCES = bench/gemm.c bench/bench_util.c bench/bench_util.h
bench_gemm_CPPFLAGS = $(AM_CPPFLAGS) $(LLVM_CFLAGS)
bench_gemm_LDADD = $(PMMC_LIBS)

# bench/conv (docs/conv.md): pmmc's LLVM conv2d kernel against the runtime's
# reference kernel and im2col + OpenBLAS on the U-Net's convolutions.  Built
# with everything else so it keeps compiling; run it by hand.
noinst_PROGRAMS += bench/conv
bench_conv_SOURCES = bench/conv.c bench/bench_util.c bench/bench_util.h
bench_conv_CPPFLAGS = $(AM_CPPFLAGS) $(LLVM_CFLAGS)
bench_conv_LDADD = $(PMMC_LIBS)
