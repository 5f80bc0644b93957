# procscan area: the fake QEMU used by the real-kernel tests does io_uring I/O.
$(OUTPUT)/tests/bpf/fakeqemu: LDLIBS += -luring
$(OUTPUT)/tests/bpf/fakeqemu: $(wildcard tests/bpf/fakeqemu/*.c) $(wildcard tests/bpf/fakeqemu/*.h)
