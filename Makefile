# bn_study: `make reproduce` reruns the article's experiment; `make test` runs the tests.
# Both install what they need into .venv first (once; again when a requirements file changes).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# The GPU build of TensorFlow where an NVIDIA driver answers, the CPU build elsewhere.
REQUIREMENTS := $(shell nvidia-smi >/dev/null 2>&1 && echo requirements-gpu.txt || echo requirements.txt)
EXPERIMENT := experiments/article.yaml
RESULTS := results/article
# Runs at once, each in its own process with cores // JOBS threads. 2 by default: two one-thread runs
# finish whole experiments sooner than one run after another on 2 cores (results/bench_parallel);
# make reproduce JOBS=1 trains one run after another with all cores.
JOBS ?= 2

.PHONY: install data data-mnist data-fashion reproduce quick studies test test-onednn-flipped test-slow verify plots site check-html browser bench bench-bn bench-precision bench-threads profile bench-parallel bench-kernels
install: $(VENV)/.installed

$(VENV)/.installed: requirements.txt requirements-gpu.txt requirements-common.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r $(REQUIREMENTS)
	$(PY) -m pip install --quiet --no-deps -e .
	touch $@

# Both data sets, verified; the article's experiment needs MNIST only (data-mnist).
data: data-mnist data-fashion
data-mnist: install
	$(PY) -m bn_study data --dataset mnist
data-fashion: install
	$(PY) -m bn_study data --dataset fashion_mnist

# The full study, trained here: 2 models x 5 seeds x 25 epochs into the git-ignored $(LOCAL)
# (complete runs are skipped on a rerun; --no-reuse: every run is trained here, none copied from
# results/), then compared with the committed reference $(RESULTS).
LOCAL := results/local/article
reproduce: data-mnist
	$(PY) -m bn_study experiment $(EXPERIMENT) --jobs $(JOBS) --no-reuse --out $(LOCAL)
	$(PY) -m bn_study compare $(RESULTS) $(LOCAL)

# The same experiment shrunk by --set (2 epochs, 6,000 images, one seed): a few minutes on 2 cores.
quick: data-mnist
	$(PY) -m bn_study experiment $(EXPERIMENT) --seeds 0 --set train.epochs=2 \
		--set data.train_limit=6000 --out results/article-quick

# The experiments beyond the article's (README and docs/experiments.md; each report gives its time);
# each skips its complete runs, so an interrupted `make studies` continues.
STUDIES := placement learning_rate ioffe2015_fig1_rate ioffe2015_fig1 regularization article_fashion precise_bn covariate_shift batch_size \
	when_bn_helps_mlp landscape when_bn_helps_cnn when_bn_helps_rate when_bn_helps_fashion precision
studies: data
	for name in $(STUDIES); do $(PY) -m bn_study experiment experiments/$$name.yaml --jobs $(JOBS) || exit 1; done
	$(PY) -m bn_study experiment $(EXPERIMENT) --set train.precision=mixed_bfloat16 --jobs $(JOBS) --out results/article_bf16

# pytest-xdist processes: whole files go to one (their module fixtures, e.g. one local Ray, stay
# shared). Two workers on this project's 2 cores: the tiers' times are in docs/internals.md, Tests.
TEST_WORKERS ?= 2
test: install browser
	$(PY) -m pytest -q --durations=12 -n $(TEST_WORKERS) --dist loadfile -m "not slow" tests

# The tests whose numbers depend on TensorFlow's kernels (BN layers, fused BN, profile, bench, equal
# runs), again with oneDNN the other way round from bn_study's default here (on, on x86; off where
# the user set TF_ENABLE_ONEDNN_OPTS=0): CI checks both kernel paths on whatever machine it gets.
KERNEL_TESTS := tests/test_layers.py tests/test_profile.py tests/test_bench.py tests/test_training.py tests/test_parallel.py
ONEDNN_FLIPPED = $(shell $(PY) -c 'from bn_study.train.quiet_tensorflow import import_tensorflow; import_tensorflow(); \
	from bn_study.train.machine import onednn_enabled; print(int(not onednn_enabled()))')
test-onednn-flipped: install
	TF_ENABLE_ONEDNN_OPTS=$(ONEDNN_FLIPPED) $(PY) -m pytest -q --durations=5 -n $(TEST_WORKERS) --dist loadfile -m "not slow" $(KERNEL_TESTS)

# Every experiment file run shrunk on the fixture, and a second signal for resume: CI runs it after
# `test`. Each test here is independent and long, so they are shared out one by one.
test-slow: install
	$(PY) -m pytest -q --durations=12 -n $(TEST_WORKERS) --dist load -m slow tests

# Every run folder and every experiment's statistics under results/ against what they recorded.
verify: install
	$(PY) -m bn_study verify results

plots: install
	for dir in $(RESULTS) $(addprefix results/,article_probe article_bf16 $(STUDIES)); do [ -d $$dir ] || continue; \
		$(PY) -m bn_study stats $$dir && $(PY) -m bn_study plot $$dir && $(PY) -m bn_study report $$dir || exit 1; done
	$(PY) -m bn_study verify results
	$(PY) -m bn_study article-figure $(RESULTS) --out results/article_figure.png
	$(PY) -m bn_study article-figure $(RESULTS) results/article_fashion --out results/article_datasets.png
	$(PY) -m bn_study docs
	$(PY) -m bn_study site

# results/index.html: every experiment (question, runs, headline, verdicts, thumbnail) and measurement.
site: install
	$(PY) -m bn_study site

# Every page under results/ opened in headless Chromium: fails on a missing image, a console error, a
# network request or a broken link; screenshots in results/local/. Chromium comes from Debian's
# packages when we are root with apt-get; otherwise one line says how to install it.
check-html: site browser
	$(PY) -m bn_study check-html

# Headless Chromium for check-html and the browser tests: Debian's package when we are root with apt-get;
# otherwise one line says how to install it.
browser:
	@command -v chromium >/dev/null || command -v chromium-browser >/dev/null || \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing Chromium for the browser tests (apt-get install -y chromium)"; \
	    { apt-get install -y -qq chromium >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq chromium >/dev/null; }; }; \
	  else echo "the browser tests and check-html need Chromium: sudo apt-get install -y chromium (Debian/Ubuntu)" >&2; exit 2; fi

# Side by side against the article's plain Keras script: alternating processes, 3 pairs per model.
bench: data-mnist
	$(PY) -m bn_study bench --epochs 3 --pairs 3 \
		--arms reference,bn_study,bn_study_probe,bn_study_nondeterministic

# The BN model with Keras' BatchNormalization, bn_study's FusedBatchNorm (TensorFlow's fused kernel)
# and ManualBatchNorm (the textbook equations), alternated, 3 pairs; ratios to Keras' BN.
bench-bn: data-mnist
	$(PY) -m bn_study bench --variants bn --epochs 3 --pairs 3 \
		--arms bn_study:BN_STUDY_BN_KERNEL=keras,bn_study_fused,bn_study_manual --out results/bench_bn

# Both article models in float32 and in mixed_bfloat16 (train.precision), alternated, 3 pairs; ratios to
# float32 per pair. bfloat16 is fast only on CPUs that compute it (avx512_bf16, amx_bf16).
bench-precision: data-mnist
	$(PY) -m bn_study bench --epochs 3 --pairs 3 --arms 'bn_study,bn_study:train.precision=mixed_bfloat16' \
		--out results/bench_precision

# Both article models at 1 and 2 TensorFlow threads (and all cores where there are more).
comma := ,
space := $(eval) $(eval)
THREAD_COUNTS := $(sort 1 2 $(shell nproc))
THREAD_ARMS := $(subst $(space),$(comma),$(foreach t,$(THREAD_COUNTS),bn_study:TF_NUM_INTRAOP_THREADS=$(t);TF_NUM_INTEROP_THREADS=$(t)))
bench-threads: data-mnist
	$(PY) -m bn_study bench --epochs 3 --pairs 3 --arms '$(THREAD_ARMS)' --out results/bench_threads

# One epoch of each article model under TensorFlow's profiler, one thread as under --jobs 2: time per op
# and per layer, and each op against this CPU's roofline, into results/profile/<CPU kind>.
profile: data-mnist
	$(PY) -m bn_study profile configs/article_no_bn.yaml configs/article_bn.yaml --threads-per-run 1

# Other kernels for the ops furthest below their roofline (first Conv2D, BN, max pooling), one thread.
bench-kernels: install
	$(PY) -m bn_study bench --kernels --pairs 7

# One small experiment (2 models x 2 seeds, 3 epochs, 12,000 training images) sequentially, with
# --jobs 2 and on a local Ray, alternated over 2 rounds: wall time ratios and CPU seconds.
bench-parallel: data-mnist
	$(PY) -m bn_study bench --parallel --pairs 2 --epochs 3 --seeds 0,1 --set data.train_limit=15000
