# kvmpilot: host-side observability and autoscaling for KVM/libvirt VMs.
#
#   make            build build/kvmpilot
#   make deps       install every Debian package the build and tests need
#   make test       run every test (unit, sanitizer, fuzz, bpf, libvirt, service, e2e)
#   make fuzz       fuzz every parser for longer (FUZZ_SECONDS=300 each, mk/fuzz.mk)
#   make demo       run the demo: three real guests and the dashboard
#   make bench      benchmarks (not tests)

OUTPUT ?= build
ARCH := x86
CC ?= gcc
CLANG ?= clang
BPFTOOL ?= bpftool
LLVM_STRIP ?= llvm-strip
PKG_CONFIG ?= pkg-config

PKGS := libbpf libvirt libmicrohttpd json-c inih libelf zlib
PKG_CFLAGS := $(shell $(PKG_CONFIG) --cflags $(PKGS) 2>/dev/null)
PKG_LIBS := $(shell $(PKG_CONFIG) --libs $(PKGS) 2>/dev/null)

# The daemon's sources: common/ (shared with the guest agent), userspace/
# (the service's lifecycle and configuration) and one folder per stage of
# the pipeline under it (README.md, "Architecture"). Headers are included
# by name: every folder is on the include path.
USER_DIRS := common userspace $(patsubst %/,%,$(sort $(wildcard userspace/*/)))
USER_SRCS := $(wildcard $(addsuffix /*.c,$(USER_DIRS)))
MAIN_SRC := userspace/cli/main.c

CFLAGS ?= -g -O2
CFLAGS += -std=gnu11 -Wall -Wextra -Werror -D_GNU_SOURCE -MMD -MP
CFLAGS += -I$(OUTPUT) $(addprefix -I,$(USER_DIRS)) -Ibpf $(PKG_CFLAGS)
LDLIBS += $(PKG_LIBS) -lpthread -lm

# Debian's hardening (dpkg-buildflags with hardening=+all): the service runs
# as root on input from guests and local users. _FORTIFY_SOURCE needs an
# optimised build, and stays out of the sanitizer build, whose checks it
# would bypass. BPF objects are built with BPF_CFLAGS and get none of this.
HARDEN_CFLAGS := -fstack-protector-strong -fstack-clash-protection -fcf-protection \
	-Wformat -Werror=format-security -fPIE
HARDEN_LDFLAGS := -pie -Wl,-z,relro -Wl,-z,now
CFLAGS += $(HARDEN_CFLAGS)
LDFLAGS += $(HARDEN_LDFLAGS)
ifeq ($(SAN),1)
CFLAGS += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
LDFLAGS += -fsanitize=address,undefined
else ifneq ($(filter-out -O0,$(filter -O%,$(CFLAGS))),)
CFLAGS += -U_FORTIFY_SOURCE -D_FORTIFY_SOURCE=2
endif

BPF_CFLAGS := -g -O2 -target bpf -D__TARGET_ARCH_$(ARCH) -Wall -Werror \
	-Ivmlinux/$(ARCH) -Ibpf -MMD -MP

BPF_SRCS := $(wildcard bpf/*.bpf.c)
BPF_OBJS := $(patsubst bpf/%.bpf.c,$(OUTPUT)/%.bpf.o,$(BPF_SRCS))
SKELS := $(patsubst bpf/%.bpf.c,$(OUTPUT)/%.skel.h,$(BPF_SRCS))

# Objects mirror the source tree: $(OUTPUT)/obj/userspace/cli/main.o.
USER_OBJS := $(patsubst %.c,$(OUTPUT)/obj/%.o,$(USER_SRCS))
MAIN_OBJ := $(OUTPUT)/obj/$(MAIN_SRC:.c=.o)
LIB_OBJS := $(filter-out $(MAIN_OBJ),$(USER_OBJS))
LIB := $(OUTPUT)/libkvmpilot.a

# Every tests/<group>/*.c is a program of its own, linked against the library;
# a program split in several files lists the others as prerequisites
# (tests/<group>/<program>/*.c, in mk/).
TEST_SRCS := $(wildcard tests/*/*.c)
TEST_BINS := $(patsubst tests/%.c,$(OUTPUT)/tests/%,$(TEST_SRCS))

# Extra rules per area (guest image, dashboard assets, benchmarks, ...).
EXTRA_TARGETS :=
.DEFAULT_GOAL := all
-include mk/*.mk

.PHONY: all
all: $(OUTPUT)/kvmpilot $(EXTRA_TARGETS)

$(OUTPUT):
	mkdir -p $@

# DWARF goes (BTF and line info stay): the objects are embedded in the binary
# and parsed at start-up, so their size is resident memory of the service.
$(OUTPUT)/%.bpf.o: bpf/%.bpf.c vmlinux/$(ARCH)/vmlinux.h | $(OUTPUT)
	$(CLANG) $(BPF_CFLAGS) -MT $@ -MF $(@:.o=.d) -c $< -o $(@:.bpf.o=.tmp.bpf.o)
	$(LLVM_STRIP) -g $(@:.bpf.o=.tmp.bpf.o) -o $@
	rm -f $(@:.bpf.o=.tmp.bpf.o)

$(OUTPUT)/%.skel.h: $(OUTPUT)/%.bpf.o
	$(BPFTOOL) gen skeleton $< > $@.tmp && mv $@.tmp $@

# What the objects were compiled with: when the flags change (a pulled
# Makefile, new hardening flags), the objects are built again instead of
# old ones being linked in beside new ones.
# Taken once here: target-specific additions (the agent tests' -I) are not
# a change of flags.
FLAGS_STAMP := $(OUTPUT)/.cflags
FLAGS_SEEN := $(CC) $(CFLAGS) $(LDFLAGS)
.PHONY: FORCE
$(FLAGS_STAMP): FORCE | $(OUTPUT)
	@echo '$(FLAGS_SEEN)' | cmp -s - $@ || echo '$(FLAGS_SEEN)' > $@

# Skeletons must exist before any user object is compiled; -MMD then
# records which ones each object really includes.
$(OUTPUT)/obj/%.o: %.c $(FLAGS_STAMP) | $(SKELS) $(EXTRA_HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

$(LIB): $(LIB_OBJS)
	rm -f $@ && ar rcs $@ $^

$(OUTPUT)/kvmpilot: $(MAIN_OBJ) $(LIB)
	$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

$(OUTPUT)/tests/%: tests/%.c $(LIB) $(FLAGS_STAMP) | $(SKELS) $(EXTRA_HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Itests/lib $(LDFLAGS) $(filter %.c,$^) $(LIB) $(LDLIBS) -lcmocka -o $@

.PHONY: tests-build
tests-build: $(OUTPUT)/kvmpilot $(TEST_BINS) $(EXTRA_TARGETS)

.PHONY: deps
deps:
	./scripts/deps.sh

# The README's test command: installs what it needs, builds, runs everything.
TEST_GROUPS ?= unit asan fuzz bpf libvirt service asan-service e2e pkg
.PHONY: test
test: deps
	$(MAKE) tests-build
	$(MAKE) guest
	./tests/lib/run-tests.sh $(TEST_GROUPS)

# Real guests (libvirt, e2e) boot the image of 'make guest'.
.PHONY: test-%
test-%: tests-build
	@case "$*" in libvirt | e2e) $(MAKE) guest ;; esac
	./tests/lib/run-tests.sh $*

# The sanitizer build used by the 'asan' test group.
.PHONY: asan
asan:
	$(MAKE) OUTPUT=$(OUTPUT)/asan SAN=1 tests-build

.PHONY: format
format:
	git ls-files '*.c' '*.h' | grep -v '^vmlinux/' | xargs clang-format -i

.PHONY: clean
clean:
	rm -rf $(OUTPUT)

-include $(wildcard $(OUTPUT)/*.d $(patsubst %.c,$(OUTPUT)/obj/%.d,$(USER_SRCS)) \
	$(OUTPUT)/tests/*/*.d)

.DELETE_ON_ERROR:
.SECONDARY:
