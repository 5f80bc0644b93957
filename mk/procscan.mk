# procscan area: the fake QEMU used by the real-kernel tests does io_uring I/O.
$(OUTPUT)/tests/bpf/fakeqemu: LDLIBS += -luring
