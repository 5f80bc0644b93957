# The guest side: the static agent and workloads (built by 'make' into
# $(OUTPUT)/guest/) and the guest image ('make guest' -> guest/out/).

# mk files are included before "all:"; keep it the default goal.
.DEFAULT_GOAL := all

GUEST_OUT := $(OUTPUT)/guest
GUEST_CFLAGS := -g -O2 -std=gnu11 -Wall -Wextra -Werror -D_GNU_SOURCE -MMD -MP \
	-Icommon -Iguest/agent
GUEST_LDFLAGS := -static -pthread

# The agent is its own program plus the shared wire format module.
AGENT_SRCS := $(wildcard guest/agent/*.c)
AGENT_LIB_SRCS := $(filter-out guest/agent/main.c,$(AGENT_SRCS)) common/agentproto.c
AGENT_OBJS := $(patsubst %.c,$(GUEST_OUT)/obj/%.o,$(AGENT_SRCS) common/agentproto.c \
	common/util.c)

GUEST_BINS := $(GUEST_OUT)/memory_hog $(GUEST_OUT)/cpuburst
ifneq ($(wildcard guest/agent/main.c),)
GUEST_BINS += $(GUEST_OUT)/kvmpilot-agent
endif

# The sanitizer build only needs the test library, not static binaries.
ifneq ($(SAN),1)
EXTRA_TARGETS += $(GUEST_BINS)
endif

$(GUEST_OUT)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(GUEST_CFLAGS) -c $< -o $@

$(GUEST_OUT)/kvmpilot-agent: $(AGENT_OBJS)
	$(CC) $(GUEST_LDFLAGS) $^ -o $@

$(GUEST_OUT)/%: $(GUEST_OUT)/obj/guest/workloads/%.o $(GUEST_OUT)/obj/common/util.o
	$(CC) $(GUEST_LDFLAGS) $^ -o $@

# Agent modules for unit tests, built with the host flags (and sanitizers).
AGENT_TEST_LIB := $(OUTPUT)/libkvmpilot-agent.a
AGENT_TEST_OBJS := $(patsubst %.c,$(OUTPUT)/agentobj/%.o,$(AGENT_LIB_SRCS))

$(OUTPUT)/agentobj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Iguest/agent -c $< -o $@

$(AGENT_TEST_LIB): $(AGENT_TEST_OBJS)
	rm -f $@ && ar rcs $@ $^

# Tests named test_agent_* also link the agent's modules.
AGENT_TESTS := $(filter $(OUTPUT)/tests/unit/test_agent_%,$(TEST_BINS))
$(AGENT_TESTS): $(AGENT_TEST_LIB)
$(AGENT_TESTS): LDLIBS += $(AGENT_TEST_LIB)
$(AGENT_TESTS): CFLAGS += -Iguest/agent

.PHONY: guest
guest: $(GUEST_BINS)
	./scripts/build-guest.sh $(OUTPUT) $(notdir $(GUEST_BINS))

-include $(wildcard $(GUEST_OUT)/obj/*/*/*.d $(GUEST_OUT)/obj/*/*.d $(OUTPUT)/agentobj/*/*/*.d \
	$(OUTPUT)/agentobj/*/*.d)

# Benchmark of the agent wire format and the host channel.
.PHONY: bench-agent
bench-agent: $(OUTPUT)/tests/bench/bench_agent
	$<
bench: bench-agent
