## reports/grid.mk: the experiment grids (every method x protocol x seed of a
## dataset) and the report: `make reproduce-demo`, `make reproduce-voc`,
## `make reproduce-cityscapes`, `make report`, `make fetch-voc`.
##
## Included at the end of Makefile.am; it also works alone, for a grid
## outside a build tree (tests/grid_resume.sh, tests/slurm_script.sh):
##   make -f SRC/reports/grid.mk srcdir=SRC GRID_BIN=BUILD RUNS_DIR=... grid-demo
##
## One make target per run: RUNS_DIR/<dataset>/<protocol>/<method>/seed<K>/result.json,
## which the trainer writes (atomically) only when the run has finished. So
## `make -jN` runs N cells at a time, a finished cell is never run again,
## and an interrupted grid (Ctrl-C, a crash, a reboot) resumes where it
## stopped: tools/grid.sh runs each cell with --resume, which continues from
## the cell's checkpoint when it has one. A failed cell fails make, printing
## its log (RUNS_DIR/<cell>/grid.log), and stays not done; `make -k` runs the
## other cells anyway. The trainers are order-only prerequisites and the
## configs none: rebuilding a trainer or editing a config never reruns a
## finished cell (remove its run directory to run it again; an unfinished
## cell whose config changed is refused by the driver's --resume).
##
## Knobs (make VAR=value; those set with ?= may also come from the environment):
##   GRID_THREADS      CPU threads per run (1: the demo grid parallelises over runs)
##   DEMO_JOBS         runs at a time for `make reproduce-demo` given without -j
##                     (default: the online CPUs; an explicit -jN wins, -j1 too)
##   GRID_SET          overrides for every run, blank-separated section.key=value
##                     words (e.g. GRID_SET='train.iterations=4 eval.interval=4')
##   GRID_METHODS      the methods (all implemented ones, cheapest first)
##   GRID              the demo grid: default (the 60-minute budget: every method
##                     at the smallest demo protocol, DEMO_FULL_METHODS at every
##                     protocol) or full (every method at every protocol); the
##                     VOC and Cityscapes grids are always full
##   DEMO_FULL_METHODS the methods the default demo grid runs at every protocol
##   GRID_SEEDS_FILE   the seed list (splits/seeds)
##   RUNS_DIR, REPORTS_DIR, DATA_DIR   where runs, results.csv and the data go
##   DEMO_SPLITS, DEMO_PROTOCOLS       the demo splits (splits/demo: every
##                     folder holding labeled.txt)
##   VOC_ROOT, VOC_SPLITS, VOC_PROTOCOLS                   (classic 92..1464, blended 662..5291)
##   CITYSCAPES_ROOT, CITYSCAPES_SPLITS, CITYSCAPES_PROTOCOLS  (1_16..1_2 = 186..1488 labeled)
##   PRETRAINED        ImageNet ResNet-101 (safetensors) for VOC and Cityscapes
##   DEMO_PRETRAINED   the demo's pretrained encoders (`make demo-pretrained`,
##                     built before the demo grid; DATA_DIR/demo-pretrained);
##                     empty: the demo trains from scratch, no pretraining stage
##   PRETRAIN_SET      overrides for the pretraining runs (as GRID_SET)
##   DEMO_PRETRAIN_MIT yes: the pretraining stage also builds the MiT-B0 encoder
##                     of AllSpark's released network on the demo
##                     (experiments/allspark/demo-segformer.conf; not in the grid)
##   DEMO_SCRATCH_METHODS  run also without the pretrained encoder, at the
##                     smallest demo protocol, as <method>-scratch (supervised:
##                     the report's pretraining figure)
##   SCHEDULER         local (make runs the grid), or slurm: write
##                     RUNS_DIR/<dataset>/grid.sbatch, a job array of the runs
##   SLURM_CPUS, SLURM_OPTS, SLURM_ARRAY_LIMIT   cpus per task (and each task's
##                     --threads), extra #SBATCH options (blank-separated, e.g.
##                     SLURM_OPTS='--gres=gpu:1 --time=72:00:00'), concurrent tasks
## tools/grid.sh documents a cell's command line and the Slurm script.

GRID_THREADS ?= 1
DEMO_JOBS ?= $(shell getconf _NPROCESSORS_ONLN 2>/dev/null || echo 1)
GRID_SET ?=
GRID_METHODS ?= supervised meanteacher cutmixseg fixmatch u2pl unimatch allspark dssn uccl ctt
GRID ?= default
DEMO_FULL_METHODS ?= supervised unimatch
GRID_SEEDS_FILE ?= $(srcdir)/splits/seeds
GRID_BIN ?= .
RUNS_DIR ?= runs
REPORTS_DIR ?= reports
DATA_DIR ?= data
DEMO_SPLITS ?= $(srcdir)/splits/demo
DEMO_PROTOCOLS ?= $(patsubst $(DEMO_SPLITS)/%/labeled.txt,%,$(wildcard $(DEMO_SPLITS)/*/labeled.txt))
VOC_ROOT ?= $(DATA_DIR)/voc
VOC_SPLITS ?= $(srcdir)/splits/pascal
VOC_PROTOCOLS ?= 92 183 366 732 1464 662 1323 2646 5291
CITYSCAPES_ROOT ?= $(DATA_DIR)/cityscapes
CITYSCAPES_SPLITS ?= $(srcdir)/splits/cityscapes
CITYSCAPES_PROTOCOLS ?= 1_16 1_8 1_4 1_2
PRETRAINED ?=
DEMO_PRETRAINED ?= $(DATA_DIR)/demo-pretrained
PRETRAIN_SET ?=
DEMO_PRETRAIN_MIT ?= no
DEMO_SCRATCH_METHODS ?= supervised
SCHEDULER ?= local
SLURM_CPUS ?= 8
SLURM_OPTS ?=
SLURM_ARRAY_LIMIT ?=
REPORT_DATASET ?= demo

## The seeds: the leading integer of each line (comment lines start with a
## hash sign), as sg_seeds_read reads the file.
grid_seeds = $(shell grep -o '^ *[0-9][0-9]*' '$(GRID_SEEDS_FILE)')
## $(call grid_cells,DATASET,PROTOCOLS): the cells DATASET/PROTOCOL/METHOD/seedK.
grid_cells = $(foreach p,$(2),$(foreach m,$(GRID_METHODS),$(foreach s,$(grid_seeds),$(1)/$(p)/$(m)/seed$(strip $(s)))))
## The same cells in the order a local grid starts them: method by method from
## the last of GRID_METHODS, which lists the methods by their demo cost: CPU
## seconds per iteration on one core (result.json cpu_s / iterations: supervised
## 0.05, U2PL 0.16, DSSN 0.29, UCCL 0.33, CTT 0.78, from the 1200-iteration grid of
## commit 75171c7; AllSpark on the DeepLabV3+ 0.26, a development run; Mean
## Teacher, CutMix-Seg, FixMatch and UniMatch by their GFLOP per iteration, 9.6,
## 9.6, 12.3 and 20.0, below DSSN's 25.0), so that `make -jN` ends on short runs
## instead of leaving one long run alone on the machine.
grid_reverse = $(if $(1),$(call grid_reverse,$(wordlist 2,$(words $(1)),$(1))) $(firstword $(1)))
grid_cells_dear_first = $(foreach m,$(call grid_reverse,$(GRID_METHODS)),$(foreach c,$(1),$(if $(filter $(m),$(word 3,$(subst /, ,$(c)))),$(c))))
grid_results = $(patsubst %,$(RUNS_DIR)/%/result.json,$(1))
## The default demo grid is sparse: the smallest protocol (fewest labels)
## gets every method, the others DEMO_FULL_METHODS (those of GRID_METHODS).
grid_demo_smallest = $(firstword $(shell printf '%s\n' $(DEMO_PROTOCOLS) | sort -n))
grid_demo_others = $(filter-out $(grid_demo_smallest),$(DEMO_PROTOCOLS))
grid_demo_full_methods = $(filter $(DEMO_FULL_METHODS),$(GRID_METHODS))
grid_cells_of = $(foreach p,$(2),$(foreach m,$(3),$(foreach s,$(grid_seeds),$(1)/$(p)/$(m)/seed$(strip $(s)))))
grid_demo_scratch = $(call grid_cells_of,demo,$(grid_demo_smallest),$(patsubst %,%-scratch,$(filter $(DEMO_SCRATCH_METHODS),$(GRID_METHODS))))
grid_demo_cells = $(grid_demo_scratch) $(if $(filter full,$(GRID)),$(call grid_cells,demo,$(DEMO_PROTOCOLS)),\
	$(call grid_cells,demo,$(grid_demo_smallest)) $(call grid_cells_of,demo,$(grid_demo_others),$(grid_demo_full_methods)))
## sg-report's view of the sparse grid: at the other protocols only those methods.
## The scratch runs are at the smallest protocol only, in either grid.
grid_demo_only = $(foreach p,$(grid_demo_others),--only '$(p)=$(subst $(grid_space),$(grid_comma),$(strip $(if $(filter full,$(GRID)),$(GRID_METHODS),$(grid_demo_full_methods))))')
grid_voc_cells = $(call grid_cells,voc,$(VOC_PROTOCOLS))
grid_cityscapes_cells = $(call grid_cells,cityscapes,$(CITYSCAPES_PROTOCOLS))

grid_sh = $(SHELL) $(srcdir)/tools/grid.sh
## Sub-makes read this same makefile (the build tree's Makefile, or grid.mk
## run alone); the recipes that run one start with + so that they share -jN.
grid_make = $(MAKE) -f '$(firstword $(MAKEFILE_LIST))'
grid_opts = --src '$(srcdir)' --bin '$(GRID_BIN)' --runs '$(RUNS_DIR)' --reports '$(REPORTS_DIR)' \
	--seeds '$(GRID_SEEDS_FILE)' --threads '$(GRID_THREADS)' \
	--demo-root '$(DATA_DIR)/demo' --demo-splits '$(DEMO_SPLITS)' --demo-pretrained '$(DEMO_PRETRAINED)' \
	--voc-root '$(VOC_ROOT)' --voc-splits '$(VOC_SPLITS)' \
	--cityscapes-root '$(CITYSCAPES_ROOT)' --cityscapes-splits '$(CITYSCAPES_SPLITS)' \
	$(if $(PRETRAINED),--pretrained '$(PRETRAINED)') $(foreach s,$(GRID_SET),--set '$(s)')
grid_slurm_opts = --cpus '$(SLURM_CPUS)' $(if $(SLURM_ARRAY_LIMIT),--array-limit '$(SLURM_ARRAY_LIMIT)') \
	$(foreach o,$(SLURM_OPTS),--slurm-opt '$(o)')
## $(call grid_schedule,DATASET,CELLS[,JOBS]): run the grid (with the make
## option JOBS, if any) and the report, or write the Slurm script.
grid_schedule = case '$(SCHEDULER)' in \
	local) $(grid_make) $(3) grid-$(1) && $(grid_make) report REPORT_DATASET=$(1) ;; \
	slurm) $(grid_sh) slurm $(grid_opts) $(grid_slurm_opts) --out '$(RUNS_DIR)/$(1)/grid.sbatch' $(2) ;; \
	*) echo "grid: SCHEDULER='$(SCHEDULER)': expected local or slurm" >&2; exit 1 ;; \
	esac

## ---- one run -----------------------------------------------------------------------
.PRECIOUS: $(RUNS_DIR)/%/result.json
$(RUNS_DIR)/%/result.json:
	@$(grid_sh) run $(grid_opts) '$*'

## Built before any run, but never a reason to rerun one.
grid-programs: $(bin_PROGRAMS)

$(call grid_results,$(grid_demo_cells)): | grid-programs grid-data-demo
$(call grid_results,$(grid_voc_cells)): | grid-programs grid-data-voc
$(call grid_results,$(grid_cityscapes_cells)): | grid-programs grid-data-cityscapes

## ---- the data --------------------------------------------------------------------------
## The demo data is generated (deterministically) only when absent or incomplete.
grid-data-demo: grid-programs
	+@if $(grid_sh) check $(grid_opts) --protocols '$(DEMO_PROTOCOLS)' demo; then :; else \
	  echo "grid: generating the demo data in $(DATA_DIR)/demo"; \
	  if test '$(DATA_DIR)' = data; then $(grid_make) demo-data; \
	  else '$(GRID_BIN)/tools/sg-demo-data' --out '$(DATA_DIR)/demo'; fi && \
	  $(grid_sh) check $(grid_opts) --protocols '$(DEMO_PROTOCOLS)' demo; fi
	+@$(if $(DEMO_PRETRAINED),$(grid_make) demo-pretrained,echo "grid: DEMO_PRETRAINED is empty: the demo trains from scratch")
## The demo's pretraining stage (experiments/pretrain/README.md), cached.
demo-pretrained: grid-programs
	@test -n '$(DEMO_PRETRAINED)' || { echo "grid: DEMO_PRETRAINED is empty" >&2; exit 1; }
	$(SHELL) '$(srcdir)/tools/demo-pretrain.sh' --src '$(srcdir)' --bin '$(GRID_BIN)' --data '$(DATA_DIR)' \
	  --out '$(DEMO_PRETRAINED)' $(foreach s,$(PRETRAIN_SET),--set '$(s)') \
	  $(if $(filter yes,$(DEMO_PRETRAIN_MIT)),--with-mit)
grid-data-voc: grid-programs
	@$(grid_sh) check $(grid_opts) --protocols '$(VOC_PROTOCOLS)' voc
grid-data-cityscapes: grid-programs
	@$(grid_sh) check $(grid_opts) --protocols '$(CITYSCAPES_PROTOCOLS)' cityscapes

## The split lists of VOC and Cityscapes are fetched (and verified) first,
## unless VOC_SPLITS / CITYSCAPES_SPLITS point elsewhere.
grid-splits-voc:
	+@if test '$(VOC_SPLITS)' = '$(srcdir)/splits/pascal'; then $(grid_make) fetch-splits; fi
grid-splits-cityscapes:
	+@if test '$(CITYSCAPES_SPLITS)' = '$(srcdir)/splits/cityscapes'; then $(grid_make) fetch-splits; fi

## VOC 2012 and the SBD-augmented masks into VOC_ROOT, checked against pinned SHA-256 values.
fetch-voc:
	$(SHELL) $(srcdir)/tools/fetch-voc.sh --dest '$(VOC_ROOT)'

## ---- the grids -----------------------------------------------------------------------------
## The cells a grid would run (done or not), one a line.
grid-list-demo:
	@printf '%s\n' $(grid_demo_cells)
grid-list-voc:
	@printf '%s\n' $(grid_voc_cells)
grid-list-cityscapes:
	@printf '%s\n' $(grid_cityscapes_cells)
grid-demo: $(call grid_results,$(call grid_cells_dear_first,$(grid_demo_cells)) $(grid_demo_scratch))
	@test -n '$(grid_demo_cells)' || { echo "grid: no demo runs (protocols '$(DEMO_PROTOCOLS)', seeds from $(GRID_SEEDS_FILE))" >&2; exit 1; }
	@echo "grid: demo: $(words $(grid_demo_cells)) runs done in $(RUNS_DIR)/demo, results in $(REPORTS_DIR)/demo/results.csv (make $(or $(filter -j%,$(MAKEFLAGS)),-j1))"
grid-voc: $(call grid_results,$(call grid_cells_dear_first,$(grid_voc_cells)))
	@test -n '$(grid_voc_cells)' || { echo "grid: no voc runs" >&2; exit 1; }
	@echo "grid: voc: $(words $(grid_voc_cells)) runs done in $(RUNS_DIR)/voc, results in $(REPORTS_DIR)/voc/results.csv"
grid-cityscapes: $(call grid_results,$(call grid_cells_dear_first,$(grid_cityscapes_cells)))
	@test -n '$(grid_cityscapes_cells)' || { echo "grid: no cityscapes runs" >&2; exit 1; }
	@echo "grid: cityscapes: $(words $(grid_cityscapes_cells)) runs done in $(RUNS_DIR)/cityscapes"

## The demo promises its time on a 2-core machine, which needs both cores:
## without a -j of the user's, its grid runs DEMO_JOBS cells at a time.
grid_demo_jobs = $(if $(filter -j%,$(MAKEFLAGS)),,-j$(DEMO_JOBS))
reproduce-demo: grid-programs
	@case '$(GRID)' in default|full) ;; *) echo "grid: GRID='$(GRID)': expected default or full" >&2; exit 1 ;; esac
	+@$(grid_make) grid-data-demo
	+@$(if $(grid_demo_jobs),echo "grid: demo: no -j given: $(DEMO_JOBS) runs at a time (DEMO_JOBS)";) \
	  $(call grid_schedule,demo,$(grid_demo_cells),$(grid_demo_jobs))
reproduce-voc: grid-programs grid-splits-voc
	+@$(grid_make) grid-data-voc
	+@$(call grid_schedule,voc,$(grid_voc_cells))
reproduce-cityscapes: grid-programs grid-splits-cityscapes
	+@$(grid_make) grid-data-cityscapes
	+@$(call grid_schedule,cityscapes,$(grid_cityscapes_cells))

## ---- the report ---------------------------------------------------------------------------
## --methods lists every method of the grid, so one that never ran shows as
## missing; --base is where the trainers ran (config.resolved paths are relative).
grid_comma = ,
grid_empty =
grid_space = $(grid_empty) $(grid_empty)
report: grid-programs
	'$(GRID_BIN)/tools/sg-report' --results '$(REPORTS_DIR)/$(REPORT_DATASET)/results.csv' --runs '$(RUNS_DIR)' \
	  --out '$(REPORTS_DIR)/$(REPORT_DATASET)' --published '$(srcdir)/reports/published.csv' \
	  --experiments '$(srcdir)/experiments' --seeds '$(GRID_SEEDS_FILE)' \
	  --methods '$(subst $(grid_space),$(grid_comma),$(strip $(GRID_METHODS) $(if $(filter demo,$(REPORT_DATASET)),$(patsubst %,%-scratch,$(filter $(DEMO_SCRATCH_METHODS),$(GRID_METHODS))))))' --base . \
	  $(if $(filter demo,$(REPORT_DATASET)),$(grid_demo_only)) \
	  --sg-eval '$(GRID_BIN)/tools/sg-eval'

.PHONY: demo-pretrained grid-list-demo grid-list-voc grid-list-cityscapes grid-programs grid-data-demo grid-data-voc grid-data-cityscapes grid-splits-voc grid-splits-cityscapes \
	fetch-voc grid-demo grid-voc grid-cityscapes reproduce-demo reproduce-voc reproduce-cityscapes report
