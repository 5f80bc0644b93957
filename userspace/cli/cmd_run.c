// SPDX-License-Identifier: GPL-2.0
/* kvmpilot run: the autoscaling service (service.c) with its HTTP side. */
#include <errno.h>
#include <getopt.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "cmds.h"
#include "config.h"
#include "service.h"
#include "util.h"

static volatile sig_atomic_t stop_flag;
static volatile sig_atomic_t reload_flag;

static void on_stop(int sig)
{
	(void)sig;
	stop_flag = 1;
}

static void on_hup(int sig)
{
	(void)sig;
	reload_flag = 1;
}

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: kvmpilot run [--config FILE] [--uri URI] [--listen ADDR:PORT]\n"
		"                    [--data-dir DIR] [--dry-run] [--tick-ms MS] [--verbose]\n"
		"\n"
		"Run the autoscaling service: every tick read BPF, libvirt and the guest agents,\n"
		"decide, act (or only log with --dry-run), keep history, and serve the dashboard,\n"
		"the JSON API and Prometheus metrics over HTTP.\n"
		"\n"
		"  --config FILE      INI configuration (see README, 'Configuration reference')\n"
		"  --uri URI          libvirt connection (default " CONFIG_DEFAULT_URI ")\n"
		"  --listen ADDR:PORT HTTP address (default " CONFIG_DEFAULT_LISTEN ")\n"
		"  --data-dir DIR     per-VM CSV history (default " CONFIG_DEFAULT_DATA_DIR ")\n"
		"  --dry-run          decide and log actions, never act\n"
		"  --tick-ms MS       tick interval (default 1000)\n"
		"  --verbose          debug messages\n"
		"\n"
		"SIGHUP reloads the configuration (a bad file keeps the old one);\n"
		"SIGTERM and SIGINT stop cleanly.\n");
}

static const struct option run_opts[] = {
	{ "config", required_argument, NULL, 'c' },
	{ "uri", required_argument, NULL, 'u' },
	{ "listen", required_argument, NULL, 'l' },
	{ "data-dir", required_argument, NULL, 'd' },
	{ "dry-run", no_argument, NULL, 'n' },
	{ "tick-ms", required_argument, NULL, 't' },
	{ "verbose", no_argument, NULL, 'v' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

/* --listen, checked as the config file's key is; 0 or -EINVAL (logged). */
static int check_listen(const char *arg)
{
	int r = config__check_listen(arg);

	if (r == -ENAMETOOLONG)
		log_error("bad --listen '%s': longer than %d characters", arg,
			  CONFIG_LISTEN_MAX - 1);
	else if (r)
		log_error("bad --listen '%s' (ADDR:PORT)", arg);
	return r ? -EINVAL : 0;
}

/*
 * --uri and --data-dir, as long as the configuration's buffers hold
 * (config.h): a longer one is refused, never cut to another URI or
 * directory. 0 or -ENAMETOOLONG (logged).
 */
static int check_path(const char *opt, const char *arg)
{
	if (strnlen(arg, VM_PATH_MAX) < VM_PATH_MAX)
		return 0;
	log_error("bad %s '%s': longer than %d characters", opt, arg, VM_PATH_MAX - 1);
	return -ENAMETOOLONG;
}

/* Options into opts; 0 to go on, else -1 with the exit status (0 for --help, 2). */
static int run_parse(int argc, char **argv, struct service_opts *opts, int *status)
{
	uint64_t v;
	int c;

	*status = 2;
	optind = 1;
	while ((c = getopt_long(argc, argv, "c:u:l:d:nt:vh", run_opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			opts->config_path = optarg;
			break;
		case 'u':
			if (check_path("--uri", optarg))
				return -1;
			opts->uri = optarg;
			break;
		case 'l':
			if (check_listen(optarg))
				return -1;
			opts->listen = optarg;
			break;
		case 'd':
			if (check_path("--data-dir", optarg))
				return -1;
			opts->data_dir = optarg;
			break;
		case 'n':
			opts->dry_run = true;
			break;
		case 't':
			if (opt_u64("--tick-ms", optarg, 100, 60000, &v, NULL, 0))
				return -1;
			opts->tick_ms = (unsigned int)v;
			break;
		case 'v':
			log_max_level = KP_LOG_DEBUG;
			break;
		case 'h':
			usage(stdout);
			*status = 0;
			return -1;
		default:
			usage(stderr);
			return -1;
		}
	}
	if (optind < argc) {
		log_error("unexpected argument '%s'", argv[optind]);
		return -1;
	}
	return 0;
}

/*
 * Stop and reload flags from the signals, which only the tick loop sees:
 * threads started later (HTTP, libvirt events) inherit a mask without
 * them. 0 or -errno (logged).
 */
static int catch_signals(void)
{
	struct sigaction sa = { 0 };
	sigset_t block;
	int r;

	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGHUP);
	r = pthread_sigmask(SIG_BLOCK, &block, NULL);
	if (r) {
		log_error("cannot block signals: %s", strerror(r));
		return -r;
	}
	sa.sa_handler = on_stop;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sa.sa_handler = on_hup;
	sigaction(SIGHUP, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
	return 0;
}

static void tune_malloc(void)
{
	/*
	 * One malloc arena for every thread: the HTTP thread's renders would
	 * otherwise keep a second arena (~3 MB) resident next to the main one.
	 * The threads rarely allocate at the same time (one tick a second).
	 */
	(void)mallopt(M_ARENA_MAX, 1);
	/*
	 * Keep blocks from 128 kB (a tick's snapshot, rendered responses) in
	 * their own mappings, returned on free: glibc would otherwise raise the
	 * threshold after the first such free and leave them fragmenting the heap.
	 */
	(void)mallopt(M_MMAP_THRESHOLD, 128 * 1024);
}

int do_run(int argc, char **argv)
{
	struct service_opts opts = { .stop = &stop_flag, .reload = &reload_flag };
	struct service *svc = NULL;
	char err[CONFIG_ERR_MAX];
	int ret, r;

	if (run_parse(argc, argv, &opts, &ret))
		return ret;
	if (catch_signals())
		return 1;
	tune_malloc();
	ret = 1;
	svc = service__new(&opts, err, sizeof(err));
	if (!svc) {
		log_error("%s", err);
		goto cleanup;
	}
	r = service__run(svc);
	if (r) {
		log_error("service stopped: %s", strerror(-r));
		goto cleanup;
	}
	log_info("stopping");
	ret = 0;
cleanup:
	service__free(svc);
	return ret;
}
