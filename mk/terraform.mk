# Terraform module checks (tests/terraform): checkov lives in its own venv, because its pins conflict with the main
# environment. Built from the pinned, hashed requirements-checkov.lock; $(STAMP) (order-only: a change to the main
# lock does not rebuild checkov) comes first so that $(BIN)/uv exists.
CHECKOV := $(VENV)/tools/checkov/bin/checkov

$(CHECKOV): requirements-checkov.lock | $(STAMP)
	rm -rf $(VENV)/tools/checkov
	$(PYTHON) -m venv $(VENV)/tools/checkov
	$(BIN)/uv pip install --python $(VENV)/tools/checkov/bin/python --compile-bytecode --require-hashes \
	  -r requirements-checkov.lock
	touch $(CHECKOV)

TEST_TOOLS += $(CHECKOV)
