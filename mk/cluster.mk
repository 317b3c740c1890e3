# PostgreSQL and Redis for the production topology of `make e2e` (CeleryExecutor, PostgreSQL metadata DB): Debian's
# `postgresql` and `redis-server`, installed with apt-get where this runs as root on Debian and one is missing;
# elsewhere the topology tests skip, naming the packages.
.PHONY: cluster-services

cluster-services:
	@missing=""; \
	command -v redis-server >/dev/null 2>&1 || missing="$$missing redis-server"; \
	{ command -v initdb >/dev/null 2>&1 || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; } || missing="$$missing postgresql"; \
	if [ -z "$$missing" ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "installing Debian's$$missing for the production-topology tests"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null) \
	    || echo "apt-get could not install$$missing: the production-topology tests will be skipped"; \
	else echo "missing$$missing and no apt-get as root: the production-topology tests will be skipped (apt-get install$$missing)"; fi
