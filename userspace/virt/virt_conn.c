// SPDX-License-Identifier: GPL-2.0
/*
 * libvirt connection: the process-wide event loop, opening with a deadline,
 * reconnecting with backoff, lifecycle events, and the bounded-job threads
 * that keep a libvirt call which never returns from holding up the caller.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libvirt/virterror.h>
#include <libxml/parser.h>

#include "util.h"
#include "virt_priv.h"

#define LOOP_WAKE_MS 200

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

void virt__quiet_errors(void)
{
	virSetErrorFunc(NULL, quiet_error);
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
		virt__quiet_errors();
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

void virt_conn__note_err(struct virt *v)
{
	const char *msg = virGetLastErrorMessage();

	v->cnt.errors++;
	(void)str_copy(v->err, msg ? msg : "unknown libvirt error", sizeof(v->err));
	virResetLastError();
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

/* ---- bounded jobs (see virt_priv.h) ------------------------------------- */

void bg_job__init(struct bg_job *b)
{
	pthread_mutex_init(&b->lock, NULL);
	pthread_cond_init(&b->cond, NULL);
}

void bg_job__destroy(struct bg_job *b)
{
	pthread_cond_destroy(&b->cond);
	pthread_mutex_destroy(&b->lock);
}

/* Run fn(arg) on a detached thread. 0 or -errno. */
int bg_job__start(void *(*fn)(void *), void *arg)
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
bool bg_job__finish(struct bg_job *b)
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
bool bg_job__wait(struct bg_job *b, uint64_t wait_ns, bool abandon)
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
		virt_conn__note_err(v);
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
	err = virt_doms__refresh_all(v);
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
bool virt_conn__alive(struct virt *v)
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
	if (str_copy(v->uri, opts && opts->uri ? opts->uri : KVMPILOT_DEFAULT_URI,
		     sizeof(v->uri)) ||
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
			struct dom_entry *e = virt_doms__find(v, ev.name);

			if (e) {
				virt_doms__remove(v, e);
				changes++;
			}
			continue;
		}
		if (ev.kind == VIRT_EV_DEFINED)
			continue; /* not running: nothing to trace yet */
		r = virt_doms__refresh_one(v, ev.name);
		if (r == -ENOTCONN)
			return r;
		if (r > 0)
			changes += r;
	}
	if (overflow || now_mono_ns() >= v->next_refresh_ns) {
		r = virt_doms__refresh_all(v);
		if (r < 0)
			return r;
		changes += r;
	}
	return changes;
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
	(void)virt_conn__alive(v);
}
