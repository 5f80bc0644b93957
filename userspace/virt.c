// SPDX-License-Identifier: GPL-2.0
/* libvirt integration: discovery, lifecycle events, reconnects, statistics. */
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <pthread.h>
#include <stddef.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <libvirt/virterror.h>
#include <libxml/parser.h>
#include <libxml/xpath.h>

#include "util.h"
#include "virt.h"

#define EVQ_SIZE       1024
#define STATUS_XML_MAX (4u << 20)
#define LOOP_WAKE_MS   200
#define MS	       1000000ull

struct dom_entry {
	struct vm_desc vm;
	struct virt_dom_info info;
	bool seen;
	/* balloon figures of the last NOWAIT stats record that had a balloon group */
	struct virt_memstats bal;
	uint64_t bal_ns; /* 0: none */
};

/* How old the NOWAIT balloon figures may be to answer virt__memstats(). */
#define BAL_FRESH_NS (5000 * MS)

/*
 * What libvirt's callbacks (event loop thread) write to: one per connection,
 * reference counted. libvirt may still run a callback after its deregistration
 * returned, so each registration holds a reference that libvirt drops through
 * the free callback once the callback is really gone.
 */
struct sink {
	pthread_mutex_t lock;
	atomic_int refs;
	atomic_int lost; /* set by the close callback */
	struct virt_event evq[EVQ_SIZE];
	int evq_head, evq_len;
	bool evq_overflow;
};

struct virt {
	char uri[VM_PATH_MAX];
	char run_dir[VM_PATH_MAX];
	int keepalive_interval;
	unsigned int keepalive_count;
	uint64_t refresh_ns;
	uint64_t backoff_min_ns, backoff_max_ns;
	int stats_period;

	uint64_t connect_timeout_ns;
	uint64_t stats_timeout_ns;
	struct conn_job *job; /* a connection attempt under way */
	uint64_t job_start_ns;

	virConnectPtr conn;
	int cb_lifecycle, cb_dev_added, cb_dev_removed, cb_tunable;
	uint64_t next_connect_ns;
	uint64_t backoff_ns;
	uint64_t next_refresh_ns;
	char err[256];

	struct dom_entry *doms;
	int ndoms, capdoms;

	/* where this connection's callbacks put events, NULL while disconnected */
	struct sink *sink;
	/* events already applied, handed to virt__events() */
	struct virt_event out[EVQ_SIZE];
	int nout;

	struct virt_counters cnt;
};

/* ---- the process-wide event loop -------------------------------------- */

static pthread_mutex_t loop_lock = PTHREAD_MUTEX_INITIALIZER;
static bool loop_registered;
static int loop_users;
static pthread_t loop_thread;
static atomic_int loop_stop;
static int loop_timer = -1;

static void quiet_error(void *opaque, virErrorPtr err)
{
	/* libvirt prints every error on stderr by default; callers log instead */
	(void)opaque;
	(void)err;
}

static void loop_tick(int timer, void *opaque)
{
	(void)timer;
	(void)opaque;
}

static void *loop_main(void *arg)
{
	(void)arg;
	while (!atomic_load(&loop_stop)) {
		if (virEventRunDefaultImpl() < 0)
			usleep(LOOP_WAKE_MS * 1000);
	}
	return NULL;
}

static int loop_get(void)
{
	int err = -EIO;

	pthread_mutex_lock(&loop_lock);
	if (loop_users++ > 0) {
		err = 0;
		goto cleanup;
	}
	if (!loop_registered) {
		virSetErrorFunc(NULL, quiet_error);
		xmlInitParser();
		if (virEventRegisterDefaultImpl() < 0)
			goto fail;
		loop_registered = true;
	}
	/* a periodic timer makes virEventRunDefaultImpl() return so the thread can stop */
	loop_timer = virEventAddTimeout(LOOP_WAKE_MS, loop_tick, NULL, NULL);
	if (loop_timer < 0)
		goto fail;
	atomic_store(&loop_stop, 0);
	err = -pthread_create(&loop_thread, NULL, loop_main, NULL);
	if (err) {
		(void)virEventRemoveTimeout(loop_timer);
		loop_timer = -1;
		goto fail;
	}
	err = 0;
	goto cleanup;
fail:
	loop_users--;
cleanup:
	pthread_mutex_unlock(&loop_lock);
	return err;
}

static void loop_put(void)
{
	pthread_mutex_lock(&loop_lock);
	if (--loop_users == 0) {
		atomic_store(&loop_stop, 1);
		(void)pthread_join(loop_thread, NULL);
		(void)virEventRemoveTimeout(loop_timer);
		loop_timer = -1;
	}
	pthread_mutex_unlock(&loop_lock);
}

/* ---- small helpers ----------------------------------------------------- */

static void note_err(struct virt *v)
{
	const char *msg = virGetLastErrorMessage();

	v->cnt.errors++;
	(void)str_copy(v->err, msg ? msg : "unknown libvirt error", sizeof(v->err));
	virResetLastError();
}

/* Read a whole file of at most max bytes; *out is malloc'ed and NUL terminated. */
static int read_all(const char *path, size_t max, char **out)
{
	size_t len = 0, cap = 16384;
	char *buf = NULL, *nbuf;
	int fd = -1, err = -ENOMEM;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		err = -errno;
		goto cleanup;
	}
	buf = malloc(cap);
	if (!buf)
		goto cleanup;
	for (;;) {
		ssize_t n;

		if (len + 1 >= cap) {
			if (cap >= max) {
				err = -EFBIG;
				goto cleanup;
			}
			cap *= 2;
			nbuf = realloc(buf, cap);
			if (!nbuf)
				goto cleanup;
			buf = nbuf;
		}
		n = read(fd, buf + len, cap - 1 - len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			err = -errno;
			goto cleanup;
		}
		if (n == 0)
			break;
		len += n;
	}
	buf[len] = '\0';
	*out = buf;
	buf = NULL;
	err = 0;
cleanup:
	free(buf);
	if (fd >= 0)
		(void)close(fd);
	return err;
}

static struct dom_entry *dom_find(struct virt *v, const char *name)
{
	for (int i = 0; i < v->ndoms; i++) {
		if (!strcmp(v->doms[i].vm.name, name))
			return &v->doms[i];
	}
	return NULL;
}

static void dom_remove(struct virt *v, struct dom_entry *e)
{
	int i = (int)(e - v->doms);

	memmove(&v->doms[i], &v->doms[i + 1], (size_t)(v->ndoms - i - 1) * sizeof(*e));
	v->ndoms--;
}

static struct dom_entry *dom_add(struct virt *v)
{
	if (v->ndoms == v->capdoms) {
		int cap = v->capdoms ? v->capdoms * 2 : 16;
		struct dom_entry *d = realloc(v->doms, (size_t)cap * sizeof(*d));

		if (!d)
			return NULL;
		v->doms = d;
		v->capdoms = cap;
	}
	memset(&v->doms[v->ndoms], 0, sizeof(v->doms[0]));
	return &v->doms[v->ndoms++];
}

/* ---- XML ---------------------------------------------------------------- */

static xmlDocPtr xml_parse(const char *xml)
{
	size_t len = strlen(xml);

	if (len > INT32_MAX)
		return NULL;
	return xmlReadMemory(xml, (int)len, "domain.xml", NULL,
			     XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
}

/* The string value of an XPath expression, copied into buf ("" when absent). */
static void xp_str(xmlXPathContextPtr ctx, xmlNodePtr node, const char *expr, char *buf,
		   size_t size)
{
	xmlXPathObjectPtr obj;
	xmlNodePtr saved = ctx->node;

	buf[0] = '\0';
	if (node)
		ctx->node = node;
	obj = xmlXPathEvalExpression((const xmlChar *)expr, ctx);
	ctx->node = saved;
	if (!obj)
		return;
	if (obj->type == XPATH_NODESET && obj->nodesetval && obj->nodesetval->nodeNr > 0) {
		xmlChar *s = xmlNodeGetContent(obj->nodesetval->nodeTab[0]);

		if (s) {
			(void)str_copy(buf, (const char *)s, size);
			xmlFree(s);
		}
	}
	xmlXPathFreeObject(obj);
}

static xmlXPathObjectPtr xp_nodes(xmlXPathContextPtr ctx, const char *expr)
{
	xmlXPathObjectPtr obj = xmlXPathEvalExpression((const xmlChar *)expr, ctx);

	if (obj && (obj->type != XPATH_NODESET || !obj->nodesetval)) {
		xmlXPathFreeObject(obj);
		return NULL;
	}
	return obj;
}

/* A libvirt memory size with its unit attribute, in KiB; 0 when absent/bad. */
static uint64_t mem_kib(const char *val, const char *unit)
{
	static const struct {
		const char *unit;
		uint64_t mul, div;
	} units[] = {
		{ "", 1, 1 },
		{ "k", 1, 1 },
		{ "KiB", 1, 1 },
		{ "b", 1, 1024 },
		{ "bytes", 1, 1024 },
		{ "KB", 1000, 1024 },
		{ "M", 1024, 1 },
		{ "MiB", 1024, 1 },
		{ "MB", 1000000, 1024 },
		{ "G", 1048576, 1 },
		{ "GiB", 1048576, 1 },
		{ "GB", 1000000000, 1024 },
		{ "T", 1073741824ull, 1 },
		{ "TiB", 1073741824ull, 1 },
	};
	uint64_t n;

	if (parse_u64(val, 0, UINT64_MAX, &n) < 0)
		return 0;
	for (size_t i = 0; i < ARRAY_SIZE(units); i++) {
		if (!strcmp(unit, units[i].unit)) {
			if (units[i].mul > 1 && n > UINT64_MAX / units[i].mul)
				return 0;
			return n * units[i].mul / units[i].div;
		}
	}
	return 0;
}

int virt__parse_domain_xml(const char *xml, struct vm_desc *vm, struct virt_dom_info *info)
{
	xmlXPathContextPtr ctx = NULL;
	xmlXPathObjectPtr obj = NULL;
	xmlDocPtr doc = NULL;
	char val[64], unit[16], buf[VM_PATH_MAX], name[VM_NAME_MAX + 1];
	uint64_t n;
	int err = -EINVAL;

	doc = xml_parse(xml);
	if (!doc)
		goto cleanup;
	ctx = xmlXPathNewContext(doc);
	if (!ctx)
		goto cleanup;
	/* one byte more than a name may have: a longer one is refused, not cut */
	xp_str(ctx, NULL, "/domain/name", name, sizeof(name));
	if (!name[0])
		goto cleanup;
	if (str_copy(vm->name, name, sizeof(vm->name))) {
		vm->name[0] = '\0';
		err = -ENAMETOOLONG;
		goto cleanup;
	}
	xp_str(ctx, NULL, "/domain/uuid", vm->uuid, sizeof(vm->uuid));
	(void)str_copy(info->name, vm->name, sizeof(info->name));

	xp_str(ctx, NULL, "/domain/memory", val, sizeof(val));
	xp_str(ctx, NULL, "/domain/memory/@unit", unit, sizeof(unit));
	info->max_memory_kib = mem_kib(val, unit);
	xp_str(ctx, NULL, "/domain/currentMemory", val, sizeof(val));
	xp_str(ctx, NULL, "/domain/currentMemory/@unit", unit, sizeof(unit));
	info->cur_memory_kib = val[0] ? mem_kib(val, unit) : info->max_memory_kib;

	xp_str(ctx, NULL, "/domain/vcpu", val, sizeof(val));
	info->max_vcpus = parse_u64(val, 1, 16384, &n) ? 0 : (int)n;
	xp_str(ctx, NULL, "/domain/vcpu/@current", val, sizeof(val));
	info->cur_vcpus = parse_u64(val, 1, 16384, &n) ? info->max_vcpus : (int)n;

	xp_str(ctx, NULL, "/domain/devices/memballoon/@model", val, sizeof(val));
	info->has_balloon = val[0] && strcmp(val, "none");
	xp_str(ctx, NULL, "/domain/devices/memballoon/stats/@period", val, sizeof(val));
	info->stats_period = parse_u64(val, 0, INT32_MAX, &n) ? 0 : (int)n;

	vm->ntaps = 0;
	obj = xp_nodes(ctx, "/domain/devices/interface/target/@dev");
	for (int i = 0; obj && i < obj->nodesetval->nodeNr && vm->ntaps < VM_MAX_TAPS; i++) {
		struct vm_tap *t = &vm->taps[vm->ntaps];

		xp_str(ctx, obj->nodesetval->nodeTab[i], ".", t->ifname, sizeof(t->ifname));
		if (t->ifname[0])
			vm->ntaps++;
	}
	xmlXPathFreeObject(obj);

	vm->ndisks = 0;
	obj = xp_nodes(ctx, "/domain/devices/disk");
	for (int i = 0; obj && i < obj->nodesetval->nodeNr && vm->ndisks < VM_MAX_DISKS; i++) {
		struct vm_disk *d = &vm->disks[vm->ndisks];
		xmlNodePtr node = obj->nodesetval->nodeTab[i];

		xp_str(ctx, node, "source/@file | source/@dev | source/@name", buf, sizeof(buf));
		if (!buf[0])
			continue; /* empty cdrom */
		memset(d, 0, sizeof(*d));
		(void)str_copy(d->path, buf, sizeof(d->path));
		xp_str(ctx, node, "target/@dev", d->target, sizeof(d->target));
		d->fd = -1;
		vm->ndisks++;
	}
	xmlXPathFreeObject(obj);
	obj = NULL;

	xp_str(ctx, NULL,
	       "/domain/devices/channel[@type='unix'][target/@name='" VIRT_AGENT_CHANNEL
	       "']/source/@path",
	       vm->channel_path, sizeof(vm->channel_path));
	err = 0;
cleanup:
	xmlXPathFreeObject(obj);
	xmlXPathFreeContext(ctx);
	xmlFreeDoc(doc);
	return err;
}

int virt__parse_status_vcpus(const char *xml, struct vm_desc *vm)
{
	xmlXPathContextPtr ctx = NULL;
	xmlXPathObjectPtr obj = NULL;
	xmlDocPtr doc = NULL;
	char val[32];
	uint64_t id, pid;
	int err = -EINVAL;

	vm->nvcpus = 0;
	doc = xml_parse(xml);
	if (!doc)
		goto cleanup;
	ctx = xmlXPathNewContext(doc);
	if (!ctx)
		goto cleanup;
	obj = xp_nodes(ctx, "/domstatus/vcpus/vcpu");
	for (int i = 0; obj && i < obj->nodesetval->nodeNr && vm->nvcpus < VM_MAX_VCPUS; i++) {
		xmlNodePtr node = obj->nodesetval->nodeTab[i];

		xp_str(ctx, node, "@id", val, sizeof(val));
		if (parse_u64(val, 0, 16383, &id))
			continue;
		xp_str(ctx, node, "@pid", val, sizeof(val));
		if (parse_u64(val, 1, INT32_MAX, &pid))
			continue;
		vm->vcpus[vm->nvcpus].index = (int)id;
		vm->vcpus[vm->nvcpus].tid = (int)pid;
		vm->nvcpus++;
	}
	err = vm->nvcpus;
cleanup:
	xmlXPathFreeObject(obj);
	xmlXPathFreeContext(ctx);
	xmlFreeDoc(doc);
	return err;
}

/* ---- connection ---------------------------------------------------------- */

static struct sink *sink_new(void)
{
	struct sink *k = calloc(1, sizeof(*k));

	if (!k)
		return NULL;
	pthread_mutex_init(&k->lock, NULL);
	atomic_store(&k->refs, 1);
	return k;
}

static struct sink *sink_get(struct sink *k)
{
	atomic_fetch_add(&k->refs, 1);
	return k;
}

static void sink_put(void *opaque)
{
	struct sink *k = opaque;

	if (k && atomic_fetch_sub(&k->refs, 1) == 1) {
		pthread_mutex_destroy(&k->lock);
		free(k);
	}
}

static void push_event(struct sink *k, enum virt_event_kind kind, const char *name, int detail)
{
	struct virt_event *ev;

	pthread_mutex_lock(&k->lock);
	if (k->evq_len == EVQ_SIZE || (name && strlen(name) >= VM_NAME_MAX)) {
		/* a full re-list will catch up (and refuse a name too long to keep) */
		k->evq_overflow = true;
	} else {
		ev = &k->evq[(k->evq_head + k->evq_len) % EVQ_SIZE];
		ev->kind = kind;
		ev->detail = detail;
		(void)str_copy(ev->name, name ? name : "", sizeof(ev->name));
		k->evq_len++;
	}
	pthread_mutex_unlock(&k->lock);
}

static int on_lifecycle(virConnectPtr conn, virDomainPtr dom, int event, int detail, void *opaque)
{
	enum virt_event_kind kind;

	(void)conn;
	switch (event) {
	case VIR_DOMAIN_EVENT_DEFINED:
		kind = VIRT_EV_DEFINED;
		break;
	case VIR_DOMAIN_EVENT_UNDEFINED:
		kind = VIRT_EV_UNDEFINED;
		break;
	case VIR_DOMAIN_EVENT_STARTED:
		kind = VIRT_EV_STARTED;
		break;
	case VIR_DOMAIN_EVENT_STOPPED:
	case VIR_DOMAIN_EVENT_SHUTDOWN:
		kind = event == VIR_DOMAIN_EVENT_STOPPED &&
				       detail == VIR_DOMAIN_EVENT_STOPPED_CRASHED
			       ? VIRT_EV_CRASHED
			       : VIRT_EV_STOPPED;
		if (event == VIR_DOMAIN_EVENT_SHUTDOWN)
			kind = VIRT_EV_OTHER; /* still running until STOPPED */
		break;
	case VIR_DOMAIN_EVENT_CRASHED:
		kind = VIRT_EV_CRASHED;
		break;
	default:
		kind = VIRT_EV_OTHER;
		break;
	}
	push_event(opaque, kind, virDomainGetName(dom), detail);
	return 0;
}

static void on_device(virConnectPtr conn, virDomainPtr dom, const char *alias, void *opaque)
{
	(void)conn;
	(void)alias;
	push_event(opaque, VIRT_EV_OTHER, virDomainGetName(dom), -1);
}

/*
 * A cputune change (pinning, ...) may come with new vCPU threads. Plain vCPU
 * hotplug sends no event at all in libvirt 9.0 (checked with virsh event
 * --all): the periodic re-list or virt__refresh() picks it up.
 */
static void on_tunable(virConnectPtr conn, virDomainPtr dom, virTypedParameterPtr params,
		       int nparams, void *opaque)
{
	(void)conn;
	(void)params;
	(void)nparams;
	push_event(opaque, VIRT_EV_OTHER, virDomainGetName(dom), -1);
}

static void on_close(virConnectPtr conn, int reason, void *opaque)
{
	struct sink *k = opaque;

	(void)conn;
	(void)reason;
	atomic_store(&k->lost, 1);
}

static void drop_conn(struct virt *v)
{
	if (!v->conn)
		return;
	if (v->cb_lifecycle >= 0)
		(void)virConnectDomainEventDeregisterAny(v->conn, v->cb_lifecycle);
	if (v->cb_dev_added >= 0)
		(void)virConnectDomainEventDeregisterAny(v->conn, v->cb_dev_added);
	if (v->cb_dev_removed >= 0)
		(void)virConnectDomainEventDeregisterAny(v->conn, v->cb_dev_removed);
	if (v->cb_tunable >= 0)
		(void)virConnectDomainEventDeregisterAny(v->conn, v->cb_tunable);
	v->cb_lifecycle = v->cb_dev_added = v->cb_dev_removed = v->cb_tunable = -1;
	(void)virConnectUnregisterCloseCallback(v->conn, on_close);
	sink_put(v->sink);
	v->sink = NULL;
	/* > 0 would mean a leaked reference (a domain not freed) */
	if (virConnectClose(v->conn) > 0)
		(void)str_copy(v->err, "leaked libvirt connection reference", sizeof(v->err));
	virResetLastError();
	v->conn = NULL;
}

static void schedule_retry(struct virt *v, uint64_t now)
{
	v->next_connect_ns = now + v->backoff_ns;
	v->backoff_ns =
		v->backoff_ns * 2 > v->backoff_max_ns ? v->backoff_max_ns : v->backoff_ns * 2;
}

static void lost_conn(struct virt *v, uint64_t now)
{
	drop_conn(v);
	v->cnt.disconnects++;
	v->next_connect_ns = now + v->backoff_ns;
}

static int full_refresh(struct virt *v);

/*
 * A libvirt call that may never return, on a detached thread of its own. The
 * caller waits for it with a deadline and may give up on it (abandon): the
 * thread then frees the job itself when the call ends. The thread stores its
 * results, then calls bg_job__finish(); the caller reads them once
 * bg_job__wait() said done.
 */
struct bg_job {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool done, abandoned;
};

static void bg_job__init(struct bg_job *b)
{
	pthread_mutex_init(&b->lock, NULL);
	pthread_cond_init(&b->cond, NULL);
}

static void bg_job__destroy(struct bg_job *b)
{
	pthread_cond_destroy(&b->cond);
	pthread_mutex_destroy(&b->lock);
}

/* Run fn(arg) on a detached thread. 0 or -errno. */
static int bg_job__start(void *(*fn)(void *), void *arg)
{
	pthread_attr_t attr;
	pthread_t t;
	int err;

	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	err = -pthread_create(&t, &attr, fn, arg);
	pthread_attr_destroy(&attr);
	return err;
}

/* The thread's end. True when the caller gave up: the job is the thread's to free. */
static bool bg_job__finish(struct bg_job *b)
{
	bool abandoned;

	pthread_mutex_lock(&b->lock);
	b->done = true;
	abandoned = b->abandoned;
	pthread_cond_signal(&b->cond);
	pthread_mutex_unlock(&b->lock);
	virResetLastError();
	return abandoned;
}

/*
 * Wait at most wait_ns (0: just look) for the call to end; true when it did.
 * Not done and abandon: the thread frees the job, the caller forgets it.
 */
static bool bg_job__wait(struct bg_job *b, uint64_t wait_ns, bool abandon)
{
	struct timespec ts;
	bool done;

	pthread_mutex_lock(&b->lock);
	if (!b->done && wait_ns) {
		(void)clock_gettime(CLOCK_REALTIME, &ts);
		timespec_add_ns(&ts, wait_ns);
		while (!b->done && pthread_cond_timedwait(&b->cond, &b->lock, &ts) == 0)
			;
	}
	done = b->done;
	if (!done && abandon)
		b->abandoned = true;
	pthread_mutex_unlock(&b->lock);
	return done;
}

/*
 * virConnectOpen() has no timeout, and a hung libvirtd accepts the socket but
 * never answers (keepalive only starts once the connection is open). So it
 * runs in a short-lived thread; virt__poll() picks the result up and never
 * waits for it. A job that outlives its struct virt closes its own result.
 */
struct conn_job {
	struct bg_job b;
	virConnectPtr conn;
	char err[256];
	char uri[VM_PATH_MAX];
};

static void conn_job__free(struct conn_job *j)
{
	if (j->conn)
		(void)virConnectClose(j->conn);
	bg_job__destroy(&j->b);
	free(j);
}

static void *connect_main(void *arg)
{
	struct conn_job *j = arg;
	const char *msg;

	j->conn = virConnectOpen(j->uri);
	msg = j->conn ? "" : virGetLastErrorMessage();
	(void)str_copy(j->err, msg ? msg : "unknown libvirt error", sizeof(j->err));
	if (bg_job__finish(&j->b))
		conn_job__free(j);
	return NULL;
}

static int start_connect(struct virt *v)
{
	struct conn_job *j = calloc(1, sizeof(*j));
	int err;

	if (!j)
		return -ENOMEM;
	bg_job__init(&j->b);
	(void)str_copy(j->uri, v->uri, sizeof(j->uri));
	err = bg_job__start(connect_main, j);
	if (err) {
		conn_job__free(j);
		return err;
	}
	v->job = j;
	v->job_start_ns = now_mono_ns();
	return 0;
}

/* Take the job's result when it is there, waiting at most wait_ns. */
static bool take_job(struct virt *v, uint64_t wait_ns, virConnectPtr *conn)
{
	struct conn_job *j = v->job;

	if (!bg_job__wait(&j->b, wait_ns, false))
		return false;
	*conn = j->conn;
	j->conn = NULL;
	if (!*conn) {
		(void)str_copy(v->err, j->err, sizeof(v->err));
		v->cnt.errors++;
	}
	conn_job__free(j);
	v->job = NULL;
	return true;
}

static void abandon_job(struct virt *v)
{
	struct conn_job *j = v->job;

	if (j && bg_job__wait(&j->b, 0, true))
		conn_job__free(j);
	v->job = NULL;
}

static int register_cb(struct virt *v, int id, virConnectDomainEventGenericCallback cb)
{
	int r = virConnectDomainEventRegisterAny(v->conn, NULL, id, cb, sink_get(v->sink),
						 sink_put);

	if (r < 0)
		sink_put(v->sink);
	return r;
}

/* Set up a freshly opened connection: keepalive, callbacks, first listing. */
static int setup_conn(struct virt *v, uint64_t now)
{
	int err = -ENOTCONN;

	if (virConnectSetKeepAlive(v->conn, v->keepalive_interval, v->keepalive_count) < 0)
		virResetLastError(); /* local drivers (test:///) have no keepalive */
	v->sink = sink_new();
	if (!v->sink) {
		err = -ENOMEM;
		goto fail;
	}
	/*
	 * No reference for the close callback: libvirt runs it under the lock
	 * that unregistering takes (and the test driver never calls a free
	 * callback for it), so the sink outlives it until drop_conn().
	 */
	if (virConnectRegisterCloseCallback(v->conn, on_close, v->sink, NULL) < 0)
		virResetLastError(); /* local drivers do not close on their own */
	v->cb_lifecycle = virConnectDomainEventRegisterAny(
		v->conn, NULL, VIR_DOMAIN_EVENT_ID_LIFECYCLE,
		VIR_DOMAIN_EVENT_CALLBACK(on_lifecycle), sink_get(v->sink), sink_put);
	if (v->cb_lifecycle < 0) {
		sink_put(v->sink);
		note_err(v);
		goto fail;
	}
	v->cb_dev_added = register_cb(v, VIR_DOMAIN_EVENT_ID_DEVICE_ADDED,
				      VIR_DOMAIN_EVENT_CALLBACK(on_device));
	v->cb_dev_removed = register_cb(v, VIR_DOMAIN_EVENT_ID_DEVICE_REMOVED,
					VIR_DOMAIN_EVENT_CALLBACK(on_device));
	v->cb_tunable =
		register_cb(v, VIR_DOMAIN_EVENT_ID_TUNABLE, VIR_DOMAIN_EVENT_CALLBACK(on_tunable));
	if (v->cb_dev_added < 0 || v->cb_dev_removed < 0 || v->cb_tunable < 0)
		virResetLastError(); /* nice to have: the periodic re-list covers it */
	v->cnt.connects++;
	v->backoff_ns = v->backoff_min_ns;
	v->err[0] = '\0';
	err = full_refresh(v);
	if (err < 0 && !v->conn)
		return -ENOTCONN;
	return err;
fail:
	drop_conn(v);
	schedule_retry(v, now);
	return err;
}

/* Start or finish a connection attempt; wait_ns bounds the wait for it. */
static int try_connect(struct virt *v, uint64_t now, uint64_t wait_ns)
{
	virConnectPtr conn = NULL;
	int err;

	if (!v->job) {
		err = start_connect(v);
		if (err) {
			schedule_retry(v, now);
			return err;
		}
	}
	if (!take_job(v, wait_ns, &conn))
		return -ENOTCONN; /* still connecting: looked at again next poll */
	if (!conn) {
		schedule_retry(v, now_mono_ns());
		return -ENOTCONN;
	}
	v->conn = conn;
	return setup_conn(v, now);
}

/* After a failed call: is the connection gone? */
static bool check_alive(struct virt *v)
{
	if (!v->conn)
		return false;
	if ((v->sink && atomic_load(&v->sink->lost)) || virConnectIsAlive(v->conn) != 1) {
		virResetLastError();
		lost_conn(v, now_mono_ns());
		return false;
	}
	return true;
}

/* ---- domain reading ------------------------------------------------------ */

static void read_runtime(struct virt *v, struct vm_desc *vm)
{
	char path[VM_PATH_MAX + VM_NAME_MAX + 8], buf[32];
	char *xml = NULL;
	uint64_t pid;

	vm->pid = 0;
	vm->nvcpus = 0;
	snprintf(path, sizeof(path), "%s/%s.pid", v->run_dir, vm->name);
	if (read_file_str(path, buf, sizeof(buf)) > 0) {
		buf[strcspn(buf, "\n")] = '\0';
		if (!parse_u64(buf, 1, INT32_MAX, &pid))
			vm->pid = (int)pid;
	}
	snprintf(path, sizeof(path), "%s/%s.xml", v->run_dir, vm->name);
	if (vm->pid && !read_all(path, STATUS_XML_MAX, &xml))
		(void)virt__parse_status_vcpus(xml, vm);
	free(xml);
	for (int i = 0; i < vm->ntaps; i++)
		vm->taps[i].ifindex = (int)if_nametoindex(vm->taps[i].ifname);
	for (int i = 0; i < vm->ndisks; i++) {
		struct stat st;

		if (vm->disks[i].path[0] == '/' && !stat(vm->disks[i].path, &st)) {
			vm->disks[i].dev = S_ISBLK(st.st_mode) ? st.st_rdev : st.st_dev;
			vm->disks[i].ino = st.st_ino;
		}
	}
}

/*
 * Read one domain into e. Returns 1 when it is running and was read, 0 when
 * it is not running, -errno on failure.
 */
static int read_domain(struct virt *v, virDomainPtr dom, struct vm_desc *vm,
		       struct virt_dom_info *info)
{
	virDomainInfo di;
	char *xml = NULL;
	int err = -EIO;

	memset(vm, 0, sizeof(*vm));
	memset(info, 0, sizeof(*info));
	if (virDomainGetInfo(dom, &di) < 0) {
		note_err(v);
		goto cleanup;
	}
	if (di.state == VIR_DOMAIN_SHUTOFF) {
		err = 0;
		goto cleanup;
	}
	xml = virDomainGetXMLDesc(dom, 0);
	if (!xml) {
		note_err(v);
		goto cleanup;
	}
	err = virt__parse_domain_xml(xml, vm, info);
	if (err == -ENAMETOOLONG) {
		const char *name = virDomainGetName(dom);

		snprintf(v->err, sizeof(v->err),
			 "domain name of %zu bytes not watched (at most %d)",
			 name ? strlen(name) : 0, VM_NAME_MAX - 1);
		goto cleanup;
	}
	if (err < 0)
		goto cleanup;
	info->id = (int)virDomainGetID(dom);
	info->state = di.state;
	info->cur_memory_kib = di.memory;
	info->max_memory_kib = di.maxMem;
	info->updated_ns = now_mono_ns();
	vm->source = VM_SOURCE_LIBVIRT;
	read_runtime(v, vm);
	err = 1;
cleanup:
	free(xml);
	return err;
}

/* Store a freshly read domain; returns 1 when something changed. */
static int store(struct virt *v, const struct vm_desc *vm, const struct virt_dom_info *info)
{
	struct dom_entry *e = dom_find(v, vm->name);
	int changed = 0;

	if (!e) {
		e = dom_add(v);
		if (!e)
			return -ENOMEM;
		changed = 1;
	} else if (memcmp(&e->vm, vm, sizeof(*vm)) || e->info.cur_vcpus != info->cur_vcpus ||
		   e->info.max_memory_kib != info->max_memory_kib) {
		changed = 1;
	}
	e->vm = *vm;
	e->info = *info;
	e->seen = true;
	return changed;
}

static int refresh_one(struct virt *v, const char *name)
{
	struct virt_dom_info info;
	struct dom_entry *e;
	struct vm_desc vm;
	virDomainPtr dom;
	int r;

	dom = virDomainLookupByName(v->conn, name);
	if (!dom) {
		virErrorPtr verr = virGetLastError();
		bool gone = verr && verr->code == VIR_ERR_NO_DOMAIN;

		note_err(v);
		if (!gone)
			return check_alive(v) ? -EIO : -ENOTCONN;
		r = 0;
	} else {
		r = read_domain(v, dom, &vm, &info);
		(void)virDomainFree(dom);
		if (r < 0)
			return check_alive(v) ? 0 : -ENOTCONN; /* vanished meanwhile */
	}
	if (r == 1)
		return store(v, &vm, &info);
	e = dom_find(v, name);
	if (e) {
		dom_remove(v, e);
		return 1;
	}
	return 0;
}

static int full_refresh(struct virt *v)
{
	virDomainPtr *doms = NULL;
	uint64_t start = now_mono_ns();
	int n, changes = 0, refused = 0, err = -EIO;

	n = virConnectListAllDomains(v->conn, &doms, VIR_CONNECT_LIST_DOMAINS_ACTIVE);
	if (n < 0) {
		note_err(v);
		err = check_alive(v) ? -EIO : -ENOTCONN;
		goto cleanup;
	}
	for (int i = 0; i < v->ndoms; i++)
		v->doms[i].seen = false;
	for (int i = 0; i < n; i++) {
		struct virt_dom_info info;
		struct vm_desc vm;
		int r = read_domain(v, doms[i], &vm, &info);

		if (r == -ENAMETOOLONG) {
			refused++;
		} else if (r == 1) {
			r = store(v, &vm, &info);
			if (r < 0) {
				err = r;
				goto cleanup;
			}
			changes += r;
		} else if (r < 0) {
			/* keep what we knew of a domain we failed to read this time */
			struct dom_entry *e = dom_find(v, virDomainGetName(doms[i]));

			if (e)
				e->seen = true;
		}
	}
	for (int i = 0; i < v->ndoms;) {
		if (!v->doms[i].seen) {
			dom_remove(v, &v->doms[i]);
			changes++;
		} else {
			i++;
		}
	}
	v->cnt.refreshes++;
	v->cnt.names_refused = refused;
	v->cnt.last_refresh_ns = now_mono_ns() - start;
	v->next_refresh_ns = now_mono_ns() + v->refresh_ns;
	err = changes;
cleanup:
	for (int i = 0; doms && i < n; i++)
		(void)virDomainFree(doms[i]);
	free(doms);
	return err;
}

/* ---- public API ---------------------------------------------------------- */

struct virt *virt__open(const struct virt_opts *opts)
{
	struct virt *v;
	int err;

	v = calloc(1, sizeof(*v));
	if (!v) {
		errno = ENOMEM;
		return NULL;
	}
	if (str_copy(v->uri, opts && opts->uri ? opts->uri : VIRT_DEFAULT_URI, sizeof(v->uri)) ||
	    str_copy(v->run_dir, opts && opts->run_dir ? opts->run_dir : VIRT_DEFAULT_RUN_DIR,
		     sizeof(v->run_dir))) {
		free(v);
		errno = ENAMETOOLONG;
		return NULL;
	}
	v->keepalive_interval = opts && opts->keepalive_interval > 0 ? opts->keepalive_interval : 5;
	v->keepalive_count = opts && opts->keepalive_count ? opts->keepalive_count : 3;
	v->refresh_ns = (opts && opts->refresh_ms ? opts->refresh_ms : 10000) * MS;
	v->backoff_min_ns = (opts && opts->backoff_min_ms ? opts->backoff_min_ms : 500) * MS;
	v->backoff_max_ns = (opts && opts->backoff_max_ms ? opts->backoff_max_ms : 30000) * MS;
	if (v->backoff_max_ns < v->backoff_min_ns)
		v->backoff_max_ns = v->backoff_min_ns;
	v->stats_timeout_ns = (opts && opts->stats_timeout_ms ? opts->stats_timeout_ms : 2000) * MS;
	v->connect_timeout_ns =
		(opts && opts->connect_timeout_ms ? opts->connect_timeout_ms : 10000) * MS;
	v->stats_period = opts && opts->stats_period ? opts->stats_period : 1;
	v->backoff_ns = v->backoff_min_ns;
	v->cb_lifecycle = v->cb_dev_added = v->cb_dev_removed = v->cb_tunable = -1;
	err = loop_get();
	if (err) {
		free(v);
		errno = -err;
		return NULL;
	}
	(void)try_connect(v, now_mono_ns(), v->connect_timeout_ns);
	return v;
}

void virt__close(struct virt *v)
{
	if (!v)
		return;
	abandon_job(v);
	drop_conn(v);
	loop_put();
	free(v->doms);
	free(v);
}

static void add_out(struct virt *v, const struct virt_event *ev)
{
	if (v->nout == EVQ_SIZE) {
		memmove(v->out, v->out + 1, (EVQ_SIZE - 1) * sizeof(v->out[0]));
		v->nout--;
	}
	v->out[v->nout++] = *ev;
}

int virt__poll(struct virt *v)
{
	struct virt_event ev;
	uint64_t now = now_mono_ns();
	int changes = 0, r;
	bool overflow = false;

	if (v->conn && (!v->sink || atomic_load(&v->sink->lost)))
		lost_conn(v, now);
	if (!v->conn) {
		if (now < v->next_connect_ns)
			return -ENOTCONN;
		return try_connect(v, now, 0);
	}
	for (;;) {
		struct sink *k = v->sink;

		if (!k)
			return -ENOTCONN;
		pthread_mutex_lock(&k->lock);
		overflow |= k->evq_overflow;
		if (!k->evq_len) {
			k->evq_overflow = false;
			pthread_mutex_unlock(&k->lock);
			break;
		}
		ev = k->evq[k->evq_head];
		k->evq_head = (k->evq_head + 1) % EVQ_SIZE;
		k->evq_len--;
		pthread_mutex_unlock(&k->lock);

		v->cnt.events++;
		add_out(v, &ev);
		if (ev.kind == VIRT_EV_STOPPED || ev.kind == VIRT_EV_UNDEFINED) {
			struct dom_entry *e = dom_find(v, ev.name);

			if (e) {
				dom_remove(v, e);
				changes++;
			}
			continue;
		}
		if (ev.kind == VIRT_EV_DEFINED)
			continue; /* not running: nothing to trace yet */
		r = refresh_one(v, ev.name);
		if (r == -ENOTCONN)
			return r;
		if (r > 0)
			changes += r;
	}
	if (overflow || now_mono_ns() >= v->next_refresh_ns) {
		r = full_refresh(v);
		if (r < 0)
			return r;
		changes += r;
	}
	return changes;
}

int virt__refresh(struct virt *v, const char *name)
{
	if (!name || !*name)
		return -EINVAL;
	if (!virt__conn(v))
		return -ENOTCONN;
	return refresh_one(v, name);
}

bool virt__connected(const struct virt *v)
{
	return v && v->conn && v->sink && !atomic_load(&v->sink->lost);
}

const char *virt__uri(const struct virt *v)
{
	return v->uri;
}

const char *virt__last_error(const struct virt *v)
{
	return v->err;
}

int virt__list(struct virt *v, struct vm_list *list)
{
	vm_list__clear(list);
	for (int i = 0; i < v->ndoms; i++) {
		struct vm_desc *vm = vm_list__add(list);

		if (!vm)
			return -ENOMEM;
		*vm = v->doms[i].vm;
	}
	return list->n;
}

int virt__info(struct virt *v, const char *name, struct virt_dom_info *info)
{
	struct dom_entry *e = name ? dom_find(v, name) : NULL;

	if (!e)
		return -ENOENT;
	*info = e->info;
	return 0;
}

int virt__events(struct virt *v, struct virt_event *evs, int max)
{
	int n = v->nout < max ? v->nout : max;

	if (n <= 0)
		return 0;
	memcpy(evs, v->out, (size_t)n * sizeof(*evs));
	memmove(v->out, v->out + n, (size_t)(v->nout - n) * sizeof(*evs));
	v->nout -= n;
	return n;
}

void virt__counters(const struct virt *v, struct virt_counters *c)
{
	*c = v->cnt;
}

virConnectPtr virt__conn(struct virt *v)
{
	if (v->conn && (!v->sink || atomic_load(&v->sink->lost)))
		lost_conn(v, now_mono_ns());
	return v->conn;
}

void virt__note_error(struct virt *v)
{
	(void)check_alive(v);
}

/* ---- statistics ---------------------------------------------------------- */

static bool param_u64(const virTypedParameter *p, uint64_t *out)
{
	switch (p->type) {
	case VIR_TYPED_PARAM_INT:
		*out = p->value.i < 0 ? 0 : (uint64_t)p->value.i;
		return true;
	case VIR_TYPED_PARAM_UINT:
		*out = p->value.ui;
		return true;
	case VIR_TYPED_PARAM_LLONG:
		*out = p->value.l < 0 ? 0 : (uint64_t)p->value.l;
		return true;
	case VIR_TYPED_PARAM_ULLONG:
		*out = p->value.ul;
		return true;
	default:
		return false;
	}
}

/* "vcpu.3.time" with prefix "vcpu." -> idx 3, rest "time"; false when not indexed. */
static bool indexed(const char *field, const char *prefix, int max, int *idx, const char **rest)
{
	size_t len = strlen(prefix);
	char *end;
	long i;

	if (strncmp(field, prefix, len) || field[len] < '0' || field[len] > '9')
		return false;
	i = strtol(field + len, &end, 10);
	if (*end != '.' || i < 0 || i >= max)
		return false;
	*idx = (int)i;
	*rest = end + 1;
	return true;
}

int virt_dom_stats__parse(struct virt_dom_stats *st, const char *name,
			  const virTypedParameter *params, int nparams)
{
	static const struct {
		const char *field;
		size_t off;
	} top[] = {
#define F(f, m) { f, offsetof(struct virt_dom_stats, m) }
		F("cpu.time", cpu_time_ns),
		F("cpu.user", cpu_user_ns),
		F("cpu.system", cpu_system_ns),
		F("balloon.current", balloon_current_kib),
		F("balloon.maximum", balloon_maximum_kib),
		F("balloon.available", balloon_available_kib),
		F("balloon.usable", balloon_usable_kib),
		F("balloon.unused", balloon_unused_kib),
		F("balloon.rss", balloon_rss_kib),
		F("balloon.disk_caches", balloon_disk_caches_kib),
		F("balloon.swap_in", balloon_swap_in_kib),
		F("balloon.swap_out", balloon_swap_out_kib),
		F("balloon.major_fault", balloon_major_fault),
		F("balloon.minor_fault", balloon_minor_fault),
		F("balloon.last-update", balloon_last_update),
#undef F
	};
	static const struct {
		const char *field;
		size_t off;
	} net[] = {
#define F(f, m) { f, offsetof(struct virt_net_stats, m) }
		F("rx.bytes", rx_bytes), F("rx.pkts", rx_pkts), F("rx.errs", rx_errs),
		F("rx.drop", rx_drop),	 F("tx.bytes", tx_bytes), F("tx.pkts", tx_pkts),
		F("tx.errs", tx_errs),	 F("tx.drop", tx_drop),
#undef F
	}, blk[] = {
#define F(f, m) { f, offsetof(struct virt_block_stats, m) }
		F("rd.reqs", rd_reqs),	 F("rd.bytes", rd_bytes), F("rd.times", rd_times_ns),
		F("wr.reqs", wr_reqs),	 F("wr.bytes", wr_bytes), F("wr.times", wr_times_ns),
		F("fl.reqs", fl_reqs),	 F("fl.times", fl_times_ns),
#undef F
	};

	memset(st, 0, sizeof(*st));
	if (str_copy(st->name, name ? name : "", sizeof(st->name))) {
		st->name[0] = '\0'; /* a cut name could be another domain's */
		return -ENAMETOOLONG;
	}
	st->balloon_available_kib = st->balloon_usable_kib = UINT64_MAX;
	st->balloon_unused_kib = st->balloon_rss_kib = UINT64_MAX;
	st->balloon_disk_caches_kib = st->balloon_swap_in_kib = st->balloon_swap_out_kib =
		UINT64_MAX;
	st->balloon_major_fault = st->balloon_minor_fault = st->balloon_last_update = UINT64_MAX;
	st->nparams = nparams > 0 ? (unsigned int)nparams : 0;
	for (int i = 0; i < nparams; i++) {
		const virTypedParameter *p = &params[i];
		const char *rest;
		uint64_t val = 0;
		bool num = param_u64(p, &val);
		int idx;

		if (!strcmp(p->field, "state.state") && num) {
			st->state = (int)val;
		} else if (!strcmp(p->field, "state.reason") && num) {
			st->state_reason = (int)val;
		} else if (!strcmp(p->field, "vcpu.current") && num) {
			st->vcpu_current = val > INT32_MAX ? INT32_MAX : (int)val;
		} else if (!strcmp(p->field, "vcpu.maximum") && num) {
			st->vcpu_maximum = val > INT32_MAX ? INT32_MAX : (int)val;
		} else if (indexed(p->field, "vcpu.", VIRT_MAX_VCPU_STATS, &idx, &rest) && num) {
			struct virt_vcpu_stats *vs = &st->vcpus[idx];

			if (!strcmp(rest, "state"))
				vs->state = (int)val;
			else if (!strcmp(rest, "time"))
				vs->time_ns = val;
			else if (!strcmp(rest, "wait"))
				vs->wait_ns = val;
			else if (!strcmp(rest, "delay"))
				vs->delay_ns = val;
			if (idx + 1 > st->nvcpus)
				st->nvcpus = idx + 1;
		} else if (indexed(p->field, "net.", VIRT_MAX_NET_STATS, &idx, &rest)) {
			struct virt_net_stats *ns = &st->nets[idx];

			if (!strcmp(rest, "name") && p->type == VIR_TYPED_PARAM_STRING)
				(void)str_copy(ns->name, p->value.s, sizeof(ns->name));
			for (size_t k = 0; num && k < ARRAY_SIZE(net); k++) {
				if (!strcmp(rest, net[k].field))
					*(uint64_t *)((char *)ns + net[k].off) = val;
			}
			if (idx + 1 > st->nnets)
				st->nnets = idx + 1;
		} else if (indexed(p->field, "block.", VIRT_MAX_BLOCK_STATS, &idx, &rest)) {
			struct virt_block_stats *bs = &st->blocks[idx];

			if (!strcmp(rest, "name") && p->type == VIR_TYPED_PARAM_STRING)
				(void)str_copy(bs->name, p->value.s, sizeof(bs->name));
			else if (!strcmp(rest, "path") && p->type == VIR_TYPED_PARAM_STRING)
				(void)str_copy(bs->path, p->value.s, sizeof(bs->path));
			for (size_t k = 0; num && k < ARRAY_SIZE(blk); k++) {
				if (!strcmp(rest, blk[k].field))
					*(uint64_t *)((char *)bs + blk[k].off) = val;
			}
			if (idx + 1 > st->nblocks)
				st->nblocks = idx + 1;
		} else if (num) {
			for (size_t k = 0; k < ARRAY_SIZE(top); k++) {
				if (!strcmp(p->field, top[k].field))
					*(uint64_t *)((char *)st + top[k].off) = val;
			}
		}
	}
	return 0;
}

/*
 * virConnectGetAllDomainStats in a helper thread with a deadline. NOWAIT
 * skips domains whose job is held, but the call that takes a job and then
 * meets a QEMU that does not answer (stopped, wedged) waits with no timeout.
 * That call is abandoned after stats_timeout (it frees its own result when it
 * ends); the next calls skip that domain's job and return at once.
 */
struct stats_job {
	struct bg_job b;
	virConnectPtr conn; /* our own reference */
	unsigned int groups;
	virDomainStatsRecordPtr *recs;
	int n;
	int code; /* virErrorNumber when n < 0 */
	char err[256];
};

#define STATS_MAX_STUCK 4
static atomic_int stats_stuck; /* abandoned stats calls still running */

static void stats_job__free(struct stats_job *j)
{
	if (j->recs)
		virDomainStatsRecordListFree(j->recs);
	if (j->conn)
		(void)virConnectClose(j->conn);
	bg_job__destroy(&j->b);
	free(j);
}

static void *stats_main(void *arg)
{
	struct stats_job *j = arg;
	virErrorPtr e;

	j->n = virConnectGetAllDomainStats(j->conn, j->groups, &j->recs,
					   VIR_CONNECT_GET_ALL_DOMAINS_STATS_ACTIVE |
						   VIR_CONNECT_GET_ALL_DOMAINS_STATS_NOWAIT);
	e = j->n < 0 ? virGetLastError() : NULL;
	j->code = e ? e->code : 0;
	(void)str_copy(j->err, e && e->message ? e->message : "", sizeof(j->err));
	if (bg_job__finish(&j->b)) {
		stats_job__free(j);
		atomic_fetch_sub(&stats_stuck, 1);
	}
	return NULL;
}

int virt__stats(struct virt *v, struct virt_stats_list *out)
{
	const unsigned int groups = VIR_DOMAIN_STATS_STATE | VIR_DOMAIN_STATS_CPU_TOTAL |
				    VIR_DOMAIN_STATS_BALLOON | VIR_DOMAIN_STATS_VCPU |
				    VIR_DOMAIN_STATS_INTERFACE | VIR_DOMAIN_STATS_BLOCK;
	virDomainStatsRecordPtr *recs = NULL;
	struct stats_job *j = NULL;
	int n, err = -ENOTCONN;

	out->n = 0;
	if (!virt__conn(v))
		goto cleanup;
	if (atomic_load(&stats_stuck) >= STATS_MAX_STUCK) {
		err = -EBUSY; /* QEMUs that do not answer: do not pile up threads */
		goto cleanup;
	}
	err = -ENOMEM;
	j = calloc(1, sizeof(*j));
	if (!j)
		goto cleanup;
	bg_job__init(&j->b);
	j->groups = groups;
	if (virConnectRef(v->conn) < 0) {
		virResetLastError();
		stats_job__free(j);
		j = NULL;
		err = -EIO;
		goto cleanup;
	}
	j->conn = v->conn;
	err = bg_job__start(stats_main, j);
	if (err) {
		stats_job__free(j);
		j = NULL;
		goto cleanup;
	}
	if (!bg_job__wait(&j->b, v->stats_timeout_ns, true)) {
		/* the thread frees it, and takes this back (maybe first: a moment below 0) */
		atomic_fetch_add(&stats_stuck, 1);
		j = NULL;
		v->cnt.stats_timeouts++;
		err = -ETIMEDOUT;
		goto cleanup;
	}
	n = j->n;
	recs = j->recs;
	j->recs = NULL;
	if (n < 0) {
		v->cnt.errors++;
		(void)str_copy(v->err, j->err[0] ? j->err : "domain stats failed", sizeof(v->err));
		err = check_alive(v) ? -EIO : -ENOTCONN;
		goto cleanup;
	}
	if (n > out->cap) {
		struct virt_dom_stats *d = realloc(out->doms, (size_t)n * sizeof(*d));

		if (!d) {
			err = -ENOMEM;
			goto cleanup;
		}
		out->doms = d;
		out->cap = n;
	}
	for (int i = 0; i < n; i++) {
		const struct virt_dom_stats *st = &out->doms[out->n];
		struct dom_entry *e;

		if (virt_dom_stats__parse(&out->doms[out->n], virDomainGetName(recs[i]->dom),
					  recs[i]->params, recs[i]->nparams))
			continue; /* a name too long to keep: not watched */
		out->n++;
		e = dom_find(v, st->name);
		if (!e || !st->balloon_maximum_kib)
			continue; /* no balloon group (the test driver): nothing to keep */
		e->bal.actual = st->balloon_current_kib;
		e->bal.available = st->balloon_available_kib;
		e->bal.usable = st->balloon_usable_kib;
		e->bal.unused = st->balloon_unused_kib;
		e->bal.disk_caches = st->balloon_disk_caches_kib;
		e->bal.swap_in = st->balloon_swap_in_kib;
		e->bal.swap_out = st->balloon_swap_out_kib;
		e->bal.major_fault = st->balloon_major_fault;
		e->bal.minor_fault = st->balloon_minor_fault;
		e->bal.rss = st->balloon_rss_kib;
		e->bal.last_update = st->balloon_last_update;
		e->bal_ns = now_mono_ns();
	}
	err = out->n;
cleanup:
	if (recs)
		virDomainStatsRecordListFree(recs);
	if (j)
		stats_job__free(j);
	return err;
}

void virt_stats_list__free(struct virt_stats_list *l)
{
	if (!l)
		return;
	free(l->doms);
	l->doms = NULL;
	l->n = l->cap = 0;
}

const struct virt_dom_stats *virt_stats_list__find(const struct virt_stats_list *l,
						   const char *name)
{
	for (int i = 0; name && i < l->n; i++) {
		if (!strcmp(l->doms[i].name, name))
			return &l->doms[i];
	}
	return NULL;
}

int virt__memstats_age(uint64_t last_update_s, uint64_t now_real_ns, double *age_s)
{
	uint64_t now_s = now_real_ns / 1000000000ull;

	if (!last_update_s || last_update_s == UINT64_MAX)
		return -ENODATA;
	/* QEMU truncates to the second: the same second is not the future */
	if (last_update_s > now_s)
		return -ERANGE;
	*age_s = (double)now_real_ns / 1e9 - (double)last_update_s;
	return 0;
}

int virt__memstats(struct virt *v, const char *name, struct virt_memstats *ms)
{
	virDomainMemoryStatStruct st[VIR_DOMAIN_MEMORY_STAT_NR];
	struct dom_entry *e;
	virDomainPtr dom = NULL;
	int n, err = -ENOTCONN;

	for (size_t i = 0; i < sizeof(*ms) / sizeof(uint64_t); i++)
		((uint64_t *)ms)[i] = UINT64_MAX;
	if (!virt__conn(v))
		goto cleanup;
	/*
	 * The balloon group of a recent NOWAIT stats call has the same figures
	 * (QEMU's guest-stats) without waiting for a busy domain's job: when the
	 * period is set, answer from it and never block.
	 */
	e = dom_find(v, name);
	if (e && e->bal_ns && e->info.stats_period > 0 &&
	    now_mono_ns() - e->bal_ns < BAL_FRESH_NS) {
		*ms = e->bal;
		err = 0;
		goto cleanup;
	}
	dom = virDomainLookupByName(v->conn, name);
	if (!dom) {
		virErrorPtr verr = virGetLastError();

		err = verr && verr->code == VIR_ERR_NO_DOMAIN ? -ENOENT : -EIO;
		note_err(v);
		if (err == -EIO && !check_alive(v))
			err = -ENOTCONN;
		goto cleanup;
	}
	if (e && e->info.has_balloon && !e->info.stats_period && v->stats_period > 0) {
		if (virDomainSetMemoryStatsPeriod(dom, v->stats_period, VIR_DOMAIN_AFFECT_LIVE) <
		    0) {
			note_err(v);
		} else {
			v->cnt.stats_periods++;
		}
		/* tried once per domain start: a refusal is not retried every tick */
		e->info.stats_period = v->stats_period;
	}
	n = virDomainMemoryStats(dom, st, VIR_DOMAIN_MEMORY_STAT_NR, 0);
	if (n < 0) {
		virErrorPtr verr = virGetLastError();

		err = verr && verr->code == VIR_ERR_OPERATION_INVALID ? -ENOENT : -EIO;
		note_err(v);
		if (err == -EIO && !check_alive(v))
			err = -ENOTCONN;
		goto cleanup;
	}
	for (int i = 0; i < n; i++) {
		switch (st[i].tag) {
		case VIR_DOMAIN_MEMORY_STAT_ACTUAL_BALLOON:
			ms->actual = st[i].val;
			break;
		case VIR_DOMAIN_MEMORY_STAT_UNUSED:
			ms->unused = st[i].val;
			break;
		case VIR_DOMAIN_MEMORY_STAT_AVAILABLE:
			ms->available = st[i].val;
			break;
		case VIR_DOMAIN_MEMORY_STAT_USABLE:
			ms->usable = st[i].val;
			break;
		case VIR_DOMAIN_MEMORY_STAT_DISK_CACHES:
			ms->disk_caches = st[i].val;
			break;
		case VIR_DOMAIN_MEMORY_STAT_SWAP_IN:
			ms->swap_in = st[i].val;
			break;
		case VIR_DOMAIN_MEMORY_STAT_SWAP_OUT:
			ms->swap_out = st[i].val;
			break;
		case VIR_DOMAIN_MEMORY_STAT_MAJOR_FAULT:
			ms->major_fault = st[i].val;
			break;
		case VIR_DOMAIN_MEMORY_STAT_MINOR_FAULT:
			ms->minor_fault = st[i].val;
			break;
		case VIR_DOMAIN_MEMORY_STAT_RSS:
			ms->rss = st[i].val;
			break;
		case VIR_DOMAIN_MEMORY_STAT_LAST_UPDATE:
			ms->last_update = st[i].val;
			break;
		default:
			break;
		}
	}
	err = 0;
cleanup:
	if (dom)
		(void)virDomainFree(dom);
	return err;
}

/* ---- merging with the /proc scan ---------------------------------------- */

int virt__merge(struct vm_list *out, const struct vm_list *lv, const struct vm_list *proc)
{
	vm_list__clear(out);
	for (int i = 0; lv && i < lv->n; i++) {
		const struct vm_desc *p =
			proc && lv->vms[i].pid ? vm_list__find_pid(proc, lv->vms[i].pid) : NULL;
		struct vm_desc *vm = vm_list__add(out);

		if (!vm)
			return -ENOMEM;
		*vm = lv->vms[i];
		if (!p)
			continue;
		vm->source |= p->source;
		vm->start_time = p->start_time;
		/*
		 * libvirt's vCPU threads first; the scan adds threads libvirt does
		 * not list (yet): a hot-added vCPU before the status XML is re-read
		 */
		for (int k = 0; k < p->nvcpus && vm->nvcpus < VM_MAX_VCPUS; k++) {
			bool known = false;

			for (int t = 0; t < vm->nvcpus; t++)
				known |= vm->vcpus[t].tid == p->vcpus[k].tid;
			if (!known)
				vm->vcpus[vm->nvcpus++] = p->vcpus[k];
		}
		for (int t = 0; t < vm->ntaps; t++) {
			for (int k = 0; !vm->taps[t].ifindex && k < p->ntaps; k++) {
				if (!strcmp(p->taps[k].ifname, vm->taps[t].ifname))
					vm->taps[t].ifindex = p->taps[k].ifindex;
			}
		}
		for (int k = 0; k < p->ntaps && vm->ntaps < VM_MAX_TAPS; k++) {
			bool known = false;

			for (int t = 0; t < vm->ntaps; t++)
				known |= !strcmp(p->taps[k].ifname, vm->taps[t].ifname);
			if (!known)
				vm->taps[vm->ntaps++] = p->taps[k];
		}
		for (int d = 0; d < vm->ndisks; d++) {
			for (int k = 0; k < p->ndisks; k++) {
				if (!strcmp(p->disks[k].path, vm->disks[d].path) ||
				    (p->disks[k].ino && p->disks[k].ino == vm->disks[d].ino &&
				     p->disks[k].dev == vm->disks[d].dev)) {
					vm->disks[d].fd = p->disks[k].fd;
					if (!vm->disks[d].ino) {
						vm->disks[d].dev = p->disks[k].dev;
						vm->disks[d].ino = p->disks[k].ino;
					}
					break;
				}
			}
		}
		if (!vm->channel_path[0])
			(void)str_copy(vm->channel_path, p->channel_path, sizeof(vm->channel_path));
	}
	for (int i = 0; proc && i < proc->n; i++) {
		struct vm_desc *vm;

		if (proc->vms[i].pid && lv && vm_list__find_pid(lv, proc->vms[i].pid))
			continue;
		vm = vm_list__add(out);
		if (!vm)
			return -ENOMEM;
		*vm = proc->vms[i];
	}
	return out->n;
}
