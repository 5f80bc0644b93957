# libvirt integration: the domain and status XML are parsed with libxml2
# (already a dependency of libvirt itself).
CFLAGS += $(shell $(PKG_CONFIG) --cflags libxml-2.0 2>/dev/null)
LDLIBS += $(shell $(PKG_CONFIG) --libs libxml-2.0 2>/dev/null)
