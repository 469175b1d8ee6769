# The two commands of the README. Each sets up what is missing (tools/setup.sh), then does its job.
PY := .venv/bin/python
export MUJOCO_GL ?= egl
export PYTHONHASHSEED := 0

.PHONY: book test setup clean reproduce

setup:
	@bash tools/setup.sh

## make book: execute every chapter with the paper profile and build the site into _build/html
book: setup
	$(PY) -m airlib book --profile paper

## make test: unit tests and every chapter under nbval with the smoke profile, TEST_JOBS files at once
## (each file's tests, and each notebook's cells, stay in order on one worker; one torch thread per worker)
TEST_JOBS ?= 2
test: export OMP_NUM_THREADS ?= 1
test: setup
	rm -rf build/smoke
	$(PY) -m airlib smoke-notebooks build/smoke
	$(PY) -m pytest -q -n $(TEST_JOBS) --dist loadfile --no-loadscope-reorder --durations=10 tests build/smoke --nbval-lax --nbval-current-env -p no:cacheprovider

clean:
	rm -rf _build book/*.ipynb build

## make reproduce: retrain every artifact the book uses (into runs/reproduce), then build the book from them
reproduce: setup
	$(PY) -m airlib reproduce --jobs 2
