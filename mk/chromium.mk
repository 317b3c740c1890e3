# Headless Chromium for the UI tests and `make screenshots`: Debian's `chromium`, installed with apt-get where this
# runs as root on Debian and it is missing. Anywhere else nothing is installed, and the UI tests skip, saying why.
.PHONY: chromium

chromium:
	@if command -v chromium >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "installing Debian's chromium for the UI tests"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium \
	    >/dev/null) || echo "apt-get could not install chromium: the UI tests will be skipped"; \
	else echo "no chromium and no apt-get as root: the UI tests will be skipped (apt-get install chromium)"; fi

TEST_TOOLS += chromium
