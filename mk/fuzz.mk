# Fuzzing: libFuzzer targets (clang, ASan + UBSan) for every parser of
# untrusted input, one program per parser under $(OUTPUT)/fuzz/bin/.
#
#   make fuzz-build               build the targets
#   make fuzz                     run each for FUZZ_SECONDS (300) on a corpus kept
#                                 in $(OUTPUT)/fuzz/corpus/ (seeded from git)
#   make fuzz FUZZ_TARGETS=fuzz_config FUZZ_SECONDS=60
#
# The test group 'fuzz' (tests/lib/run-tests.sh) runs each for about 20 s.
# The project's sources are compiled again with clang and the fuzzer's
# coverage instrumentation into $(OUTPUT)/fuzz/obj/, never mixed with the
# gcc objects; the flags of the normal build (hardening) do not apply here.

.DEFAULT_GOAL := all

FUZZ_OUT := $(OUTPUT)/fuzz
FUZZ_SECONDS ?= 300
FUZZ_SAN := -fsanitize=address,undefined -fno-sanitize-recover=undefined \
	-fno-omit-frame-pointer
FUZZ_CFLAGS := -g -O1 -std=gnu11 -Wall -D_GNU_SOURCE -MMD -MP $(FUZZ_SAN) \
	-I$(OUTPUT) $(addprefix -I,$(USER_DIRS)) -Ibpf -Itests/fuzz/targets $(PKG_CFLAGS) \
	$(shell $(PKG_CONFIG) --cflags libxml-2.0 2>/dev/null)

# Host targets link the daemon's library but the CLI's commands (the linker
# takes what they use), so a file split or renamed elsewhere needs no change.
FUZZ_HOST_SRCS := $(filter-out %/main.c %/cmd_%.c,$(USER_SRCS))
FUZZ_HOST_OBJS := $(patsubst %.c,$(FUZZ_OUT)/obj/%.o,$(FUZZ_HOST_SRCS))
FUZZ_HOST_LIB := $(FUZZ_OUT)/libkvmpilot.a
# Guest targets link what the static agent links.
FUZZ_GUEST_SRCS := $(filter-out guest/agent/main.c,$(wildcard guest/agent/*.c)) \
	common/agentproto.c common/util.c
FUZZ_GUEST_OBJS := $(patsubst %.c,$(FUZZ_OUT)/obj/%.o,$(FUZZ_GUEST_SRCS))
FUZZ_GUEST_LIB := $(FUZZ_OUT)/libagent.a

FUZZ_SRCS := $(wildcard tests/fuzz/targets/fuzz_*.c)
FUZZ_BINS := $(patsubst tests/fuzz/targets/%.c,$(FUZZ_OUT)/bin/%,$(FUZZ_SRCS))
FUZZ_TARGETS ?= $(notdir $(FUZZ_BINS))

# The daemon's sources are others' code: their warnings are the gcc
# build's business (-Werror there); the targets themselves get -Werror.
$(FUZZ_OUT)/obj/%.o: %.c | $(SKELS) $(EXTRA_HEADERS)
	@mkdir -p $(dir $@)
	$(CLANG) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c $< -o $@

$(FUZZ_HOST_LIB): $(FUZZ_HOST_OBJS)
	rm -f $@ && ar rcs $@ $^

$(FUZZ_GUEST_LIB): $(FUZZ_GUEST_OBJS)
	rm -f $@ && ar rcs $@ $^

$(FUZZ_OUT)/bin/fuzz_guest_%: tests/fuzz/targets/fuzz_guest_%.c $(FUZZ_GUEST_LIB)
	@mkdir -p $(dir $@)
	$(CLANG) -Iguest/agent $(FUZZ_CFLAGS) -Werror -fsanitize=fuzzer $< $(FUZZ_GUEST_LIB) -o $@

$(FUZZ_OUT)/bin/fuzz_%: tests/fuzz/targets/fuzz_%.c $(FUZZ_HOST_LIB)
	@mkdir -p $(dir $@)
	$(CLANG) $(FUZZ_CFLAGS) -Werror -fsanitize=fuzzer $< $(FUZZ_HOST_LIB) $(LDLIBS) -o $@

.PHONY: fuzz-build
fuzz-build: $(FUZZ_BINS)

# Long runs keep what they find in $(FUZZ_OUT)/corpus/NAME (not in git);
# a crash stops the run with the input under $(FUZZ_OUT)/crash/NAME/.
.PHONY: fuzz
fuzz: fuzz-build
	@set -e; for t in $(FUZZ_TARGETS); do \
		FUZZ_CORPUS_DIR=$(FUZZ_OUT)/corpus/$$t ./tests/fuzz/run-fuzz.sh \
			$(FUZZ_OUT)/bin/$$t $(FUZZ_SECONDS) $(FUZZ_OUT)/crash/$$t; \
	done

-include $(wildcard $(FUZZ_OUT)/obj/*/*.d $(FUZZ_OUT)/obj/*/*/*.d $(FUZZ_OUT)/bin/*.d)
