/*
 * klife_rdkafka_bench: the librdkafka side of Klife's side-by-side benchmarks (scripts/bench.sh).
 *
 * Compiled against Debian's librdkafka-dev header (2.0.2) and linked against the librdkafka 2.16 that the
 * confluent-kafka wheel bundles (Debian's 2.0.2 cannot talk to Tansu); it refuses to run on anything but
 * 2.16.x. It runs exactly the workloads `klife bench` runs and prints one JSON line with the same keys:
 *
 *   create   --topic T --partitions P                 create a topic (exists already: fine)
 *   delete   --topic T                                delete a topic
 *   produce  --topic T --records N --record-size B [--partitions P] [--compression C] [--acks A]
 *            produce N records as fast as possible, record i to partition i % P, wait for every
 *            delivery report; idempotence on unless --idempotence off
 *   consume  --topic T --records N                    read N records from the beginning of every partition
 *   latency  --topic T --records N --record-size B --concurrency C
 *            C threads each produce one record and wait for its delivery report before the next
 *            (linger.ms=0; one warm-up record first, outside the clock); reports p50/p99/p999 of the
 *            produce→acknowledged time
 *
 * Record values are the same on both sides: slices of a 1 MiB pool of letters 'a'..'p' from xorshift64
 * (seed 0x9E3779B97F4A7C15, shifts 13/7/17, top 4 bits), record i starting at (i * 7919) mod 2^20.
 * No keys, no headers. MB/s counts value bytes only (10^6 B). The clock runs from the first produce (or the
 * assign) to the last delivery report (or the N-th record); connecting and metadata happen before it.
 * CPU time and peak RSS come from getrusage(RUSAGE_SELF) over the whole process.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>

#define POOL_SIZE (1u << 20)
#define VALUE_STRIDE 7919u
#define MAX_EXTRA_PROPS 64

/* MARK: options */

struct options {
    const char *mode;
    const char *bootstrap;
    const char *topic;
    long long records;
    long record_size;
    int partitions;
    const char *compression;
    const char *acks;
    int idempotence;
    int concurrency;
    const char *linger_ms;     /* NULL: librdkafka's default (latency mode: 0) */
    const char *batch_size;    /* NULL: librdkafka's default */
    const char *max_in_flight; /* NULL: librdkafka's default */
    long max_buffered_mb;      /* 0: librdkafka's default queue.buffering.max.kbytes (1 GiB) */
    double timeout_s;
    int n_extra;
    const char *extra_keys[MAX_EXTRA_PROPS];
    const char *extra_values[MAX_EXTRA_PROPS];
};

static struct options opt = {
    .bootstrap = "127.0.0.1:9092",
    .records = 1000000,
    .record_size = 100,
    .partitions = 1,
    .compression = "none",
    .acks = "all",
    .idempotence = 1,
    .concurrency = 1,
    .timeout_s = 300,
};

static void die(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
static void die(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "klife_rdkafka_bench: error: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    exit(1);
}

static void usage(void) {
    fprintf(stderr,
            "usage: klife_rdkafka_bench create|delete|produce|consume|latency --topic T [options]\n"
            "  --bootstrap HOST:PORT   (127.0.0.1:9092)\n"
            "  --records N             (1000000)\n"
            "  --record-size B         value bytes per record (100)\n"
            "  --partitions P          create: partitions; produce/latency: spread records over 0..P-1 (1)\n"
            "  --compression C         none|gzip|snappy|lz4|zstd (none)\n"
            "  --acks A                all|1|0 (all)\n"
            "  --idempotence on|off    (on)\n"
            "  --concurrency C         latency: concurrent synchronous callers (1)\n"
            "  --linger-ms MS          linger.ms (librdkafka's default; latency mode: 0)\n"
            "  --batch-size B          batch.size (librdkafka's default)\n"
            "  --max-in-flight N       max.in.flight.requests.per.connection (librdkafka's default)\n"
            "  --max-buffered-mb M     queue.buffering.max.kbytes = M * 1024 (librdkafka's default)\n"
            "  --timeout S             give up after S seconds without finishing (300)\n"
            "  -X key=value            extra librdkafka property (repeatable)\n");
    exit(2);
}

static void parse_options(int argc, char **argv) {
    if (argc < 2 || argv[1][0] == '-') usage();
    opt.mode = argv[1];
    static const struct option longopts[] = {
        {"bootstrap", required_argument, 0, 'b'},   {"topic", required_argument, 0, 't'},
        {"records", required_argument, 0, 'n'},     {"record-size", required_argument, 0, 's'},
        {"partitions", required_argument, 0, 'p'},  {"compression", required_argument, 0, 'z'},
        {"acks", required_argument, 0, 'a'},        {"idempotence", required_argument, 0, 'i'},
        {"concurrency", required_argument, 0, 'c'}, {"timeout", required_argument, 0, 'T'},
        {"linger-ms", required_argument, 0, 'L'},   {"batch-size", required_argument, 0, 'B'},
        {"max-in-flight", required_argument, 0, 'F'}, {"max-buffered-mb", required_argument, 0, 'M'},
        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0},
    };
    optind = 2;
    int ch;
    while ((ch = getopt_long(argc, argv, "b:t:n:s:p:z:a:i:c:T:X:L:B:F:M:h", longopts, NULL)) != -1) {
        switch (ch) {
        case 'b': opt.bootstrap = optarg; break;
        case 't': opt.topic = optarg; break;
        case 'n': opt.records = atoll(optarg); break;
        case 's': opt.record_size = atol(optarg); break;
        case 'p': opt.partitions = atoi(optarg); break;
        case 'z': opt.compression = optarg; break;
        case 'a': opt.acks = optarg; break;
        case 'i':
            if (!strcmp(optarg, "on") || !strcmp(optarg, "true") || !strcmp(optarg, "1")) opt.idempotence = 1;
            else if (!strcmp(optarg, "off") || !strcmp(optarg, "false") || !strcmp(optarg, "0")) opt.idempotence = 0;
            else die("--idempotence takes on|off, not '%s'", optarg);
            break;
        case 'c': opt.concurrency = atoi(optarg); break;
        case 'T': opt.timeout_s = atof(optarg); break;
        case 'L': opt.linger_ms = optarg; break;
        case 'B': opt.batch_size = optarg; break;
        case 'F': opt.max_in_flight = optarg; break;
        case 'M': opt.max_buffered_mb = atol(optarg); break;
        case 'X': {
            char *eq = strchr(optarg, '=');
            if (!eq || opt.n_extra == MAX_EXTRA_PROPS) die("bad -X '%s' (want key=value)", optarg);
            *eq = '\0';
            opt.extra_keys[opt.n_extra] = optarg;
            opt.extra_values[opt.n_extra] = eq + 1;
            opt.n_extra++;
            break;
        }
        default: usage();
        }
    }
    if (optind != argc) usage();
    if (!opt.topic) die("--topic is required");
    if (opt.records <= 0) die("--records must be > 0");
    if (opt.record_size < 0 || opt.record_size > 64 * 1024 * 1024) die("--record-size must be 0...64 MiB");
    if (opt.partitions <= 0) die("--partitions must be > 0");
    if (opt.concurrency <= 0) die("--concurrency must be > 0");
}

/* MARK: measurements */

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int compare_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of a sorted array, in microseconds. */
static double percentile_us(const uint64_t *sorted, size_t n, double q) {
    if (n == 0) return 0;
    double rank = q * (double)n;
    size_t idx = (size_t)rank;
    if ((double)idx < rank) idx++; /* ceil */
    if (idx == 0) idx = 1;
    if (idx > n) idx = n;
    return (double)sorted[idx - 1] / 1000.0;
}

struct result {
    long long records;
    long long bytes;
    double elapsed_s;
    int has_latency;
    double p50_us, p99_us, p999_us, max_us, mean_us;
};

static void print_json(const struct result *r) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double user = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6;
    double sys = (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
    double cpu = user + sys;
    double rps = r->elapsed_s > 0 ? (double)r->records / r->elapsed_s : 0;
    double mbps = r->elapsed_s > 0 ? (double)r->bytes / 1e6 / r->elapsed_s : 0;
    printf("{\"client\":\"librdkafka\",\"client_version\":\"%s\",\"mode\":\"%s\",\"topic\":\"%s\","
           "\"records\":%lld,\"record_size\":%ld,\"bytes\":%lld,\"partitions\":%d,\"compression\":\"%s\","
           "\"acks\":\"%s\",\"idempotence\":%s,\"concurrency\":%d,"
           "\"elapsed_s\":%.6f,\"records_per_s\":%.1f,\"mb_per_s\":%.3f,"
           "\"cpu_user_s\":%.3f,\"cpu_sys_s\":%.3f,\"cpu_s\":%.3f,\"cpu_s_per_million\":%.4f,"
           "\"peak_rss_mb\":%.1f",
           rd_kafka_version_str(), opt.mode, opt.topic, r->records, opt.record_size, r->bytes, opt.partitions,
           opt.compression, opt.acks, opt.idempotence ? "true" : "false", opt.concurrency, r->elapsed_s, rps,
           mbps, user, sys, cpu, r->records > 0 ? cpu * 1e6 / (double)r->records : 0,
           (double)ru.ru_maxrss / 1024.0);
    if (r->has_latency)
        printf(",\"p50_us\":%.1f,\"p99_us\":%.1f,\"p999_us\":%.1f,\"max_us\":%.1f,\"mean_us\":%.1f}\n", r->p50_us,
               r->p99_us, r->p999_us, r->max_us, r->mean_us);
    else
        printf(",\"p50_us\":null,\"p99_us\":null,\"p999_us\":null,\"max_us\":null,\"mean_us\":null}\n");
    fflush(stdout);
}

/* MARK: record values */

static char *value_pool;

static void make_value_pool(void) {
    size_t len = POOL_SIZE + (size_t)opt.record_size;
    value_pool = malloc(len ? len : 1);
    if (!value_pool) die("out of memory");
    uint64_t s = 0x9E3779B97F4A7C15ull;
    for (size_t j = 0; j < len; j++) {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        value_pool[j] = (char)('a' + (s >> 60));
    }
}

static inline const char *value_for(long long i) {
    return value_pool + ((uint64_t)i * VALUE_STRIDE) % POOL_SIZE;
}

/* MARK: librdkafka setup */

static void set_conf(rd_kafka_conf_t *conf, const char *key, const char *value) {
    char errstr[512];
    if (rd_kafka_conf_set(conf, key, value, errstr, sizeof errstr) != RD_KAFKA_CONF_OK)
        die("config %s=%s: %s", key, value, errstr);
}

static void error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque) {
    (void)opaque;
    fprintf(stderr, "klife_rdkafka_bench: librdkafka %s: %s\n", rd_kafka_err2name(err), reason);
    if (err == RD_KAFKA_RESP_ERR__FATAL) {
        char buf[512];
        rd_kafka_resp_err_t orig = rd_kafka_fatal_error(rk, buf, sizeof buf);
        die("fatal %s: %s", rd_kafka_err2name(orig), buf);
    }
}

static rd_kafka_conf_t *base_conf(void) {
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    set_conf(conf, "bootstrap.servers", opt.bootstrap);
    set_conf(conf, "client.id", "klife-rdkafka-bench");
    rd_kafka_conf_set_error_cb(conf, error_cb);
    return conf;
}

static void apply_extra_props(rd_kafka_conf_t *conf) {
    for (int i = 0; i < opt.n_extra; i++) set_conf(conf, opt.extra_keys[i], opt.extra_values[i]);
}

static rd_kafka_t *new_client(rd_kafka_type_t type, rd_kafka_conf_t *conf) {
    char errstr[512];
    rd_kafka_t *rk = rd_kafka_new(type, conf, errstr, sizeof errstr);
    if (!rk) die("rd_kafka_new: %s", errstr);
    return rk;
}

/* Partition count of the topic as the broker reports it (0 if unknown), waiting up to timeout_s. */
static int wait_for_partitions(rd_kafka_t *rk, int at_least, double timeout_s) {
    double deadline = now_s() + timeout_s;
    int count = 0;
    for (;;) {
        rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, opt.topic, NULL);
        const struct rd_kafka_metadata *md = NULL;
        rd_kafka_resp_err_t err = rd_kafka_metadata(rk, 0, rkt, &md, 5000);
        rd_kafka_topic_destroy(rkt);
        count = 0;
        if (!err && md->topic_cnt == 1 && !md->topics[0].err) count = md->topics[0].partition_cnt;
        if (md) rd_kafka_metadata_destroy(md);
        if (count >= at_least && count > 0) return count;
        if (now_s() > deadline)
            die("topic %s has %d partition(s) after %.0f s (wanted %d): %s", opt.topic, count, timeout_s, at_least,
                err ? rd_kafka_err2str(err) : "not there yet");
        usleep(50 * 1000);
    }
}

/* MARK: create / delete */

static void admin_topic(int create) {
    rd_kafka_conf_t *conf = base_conf();
    rd_kafka_t *rk = new_client(RD_KAFKA_PRODUCER, conf);
    char errstr[512];
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_AdminOptions_t *ao = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_ANY);
    rd_kafka_AdminOptions_set_operation_timeout(ao, 30000, errstr, sizeof errstr);
    rd_kafka_AdminOptions_set_request_timeout(ao, 30000, errstr, sizeof errstr);
    rd_kafka_NewTopic_t *nt = NULL;
    rd_kafka_DeleteTopic_t *dt = NULL;
    if (create) {
        nt = rd_kafka_NewTopic_new(opt.topic, opt.partitions, 1, errstr, sizeof errstr);
        if (!nt) die("NewTopic: %s", errstr);
        rd_kafka_CreateTopics(rk, &nt, 1, ao, q);
    } else {
        dt = rd_kafka_DeleteTopic_new(opt.topic);
        rd_kafka_DeleteTopics(rk, &dt, 1, ao, q);
    }
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 60000);
    if (!ev) die("%s topic %s: no answer within 60 s", create ? "create" : "delete", opt.topic);
    if (rd_kafka_event_error(ev)) die("%s topic %s: %s", create ? "create" : "delete", opt.topic,
                                      rd_kafka_event_error_string(ev));
    const rd_kafka_topic_result_t **res;
    size_t n = 0;
    if (create) res = rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &n);
    else res = rd_kafka_DeleteTopics_result_topics(rd_kafka_event_DeleteTopics_result(ev), &n);
    for (size_t i = 0; i < n; i++) {
        rd_kafka_resp_err_t err = rd_kafka_topic_result_error(res[i]);
        if (err && !(create && err == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS))
            die("%s topic %s: %s: %s", create ? "create" : "delete", opt.topic, rd_kafka_err2name(err),
                rd_kafka_topic_result_error_string(res[i]) ? rd_kafka_topic_result_error_string(res[i]) : "");
    }
    rd_kafka_event_destroy(ev);
    if (nt) rd_kafka_NewTopic_destroy(nt);
    if (dt) rd_kafka_DeleteTopic_destroy(dt);
    rd_kafka_AdminOptions_destroy(ao);
    if (create) wait_for_partitions(rk, opt.partitions, 30);
    rd_kafka_queue_destroy(q);
    rd_kafka_destroy(rk);
    fprintf(stderr, "klife_rdkafka_bench: %s topic %s\n", create ? "created" : "deleted", opt.topic);
}

/* MARK: produce */

static long long delivered, delivery_errors;
static rd_kafka_resp_err_t first_delivery_error;

static void counting_dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
    (void)rk;
    (void)opaque;
    if (m->err) {
        if (!delivery_errors) first_delivery_error = m->err;
        delivery_errors++;
    } else {
        delivered++;
    }
}

static rd_kafka_conf_t *producer_conf(void) {
    rd_kafka_conf_t *conf = base_conf();
    set_conf(conf, "acks", opt.acks);
    set_conf(conf, "enable.idempotence", opt.idempotence ? "true" : "false");
    set_conf(conf, "compression.codec", opt.compression);
    if (opt.linger_ms) set_conf(conf, "linger.ms", opt.linger_ms);
    if (opt.batch_size) set_conf(conf, "batch.size", opt.batch_size);
    if (opt.max_in_flight) set_conf(conf, "max.in.flight.requests.per.connection", opt.max_in_flight);
    if (opt.max_buffered_mb > 0) {
        char kb[32];
        snprintf(kb, sizeof kb, "%ld", opt.max_buffered_mb * 1024);
        set_conf(conf, "queue.buffering.max.kbytes", kb);
    }
    return conf;
}

static void run_produce(void) {
    make_value_pool();
    rd_kafka_conf_t *conf = producer_conf();
    rd_kafka_conf_set_dr_msg_cb(conf, counting_dr_cb);
    apply_extra_props(conf);
    rd_kafka_t *rk = new_client(RD_KAFKA_PRODUCER, conf);
    int have = wait_for_partitions(rk, opt.partitions, 30);
    (void)have;
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, opt.topic, NULL);

    double start = now_s(), deadline = start + opt.timeout_s;
    for (long long i = 0; i < opt.records; i++) {
        int32_t partition = (int32_t)(i % opt.partitions);
        while (rd_kafka_produce(rkt, partition, RD_KAFKA_MSG_F_COPY, (void *)value_for(i), (size_t)opt.record_size,
                                NULL, 0, NULL) == -1) {
            rd_kafka_resp_err_t err = rd_kafka_last_error();
            if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) die("produce: %s", rd_kafka_err2str(err));
            rd_kafka_poll(rk, 1); /* queue full: serve delivery reports until there is room */
            if (now_s() > deadline) die("produce: timed out with the queue full");
        }
        if ((i & 1023) == 0) rd_kafka_poll(rk, 0);
    }
    while (delivered + delivery_errors < opt.records) {
        rd_kafka_poll(rk, 100);
        if (now_s() > deadline)
            die("produce: %lld of %lld delivery reports after %.0f s", delivered + delivery_errors, opt.records,
                opt.timeout_s);
    }
    double elapsed = now_s() - start;
    if (delivery_errors)
        die("produce: %lld delivery errors, first %s", delivery_errors, rd_kafka_err2str(first_delivery_error));

    struct result r = {.records = delivered, .bytes = delivered * opt.record_size, .elapsed_s = elapsed};
    rd_kafka_topic_destroy(rkt);
    rd_kafka_destroy(rk);
    print_json(&r);
}

/* MARK: consume */

static void run_consume(void) {
    rd_kafka_conf_t *conf = base_conf();
    char group[128];
    snprintf(group, sizeof group, "klife-rdkafka-bench-%d-%lld", (int)getpid(), (long long)time(NULL));
    set_conf(conf, "group.id", group); /* needed by assign(); nothing is joined or committed */
    set_conf(conf, "enable.auto.commit", "false");
    set_conf(conf, "enable.auto.offset.store", "false");
    set_conf(conf, "auto.offset.reset", "earliest");
    apply_extra_props(conf);
    rd_kafka_t *rk = new_client(RD_KAFKA_CONSUMER, conf);
    rd_kafka_poll_set_consumer(rk);
    int partitions = wait_for_partitions(rk, 1, 30);
    opt.partitions = partitions;
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(partitions);
    for (int p = 0; p < partitions; p++)
        rd_kafka_topic_partition_list_add(list, opt.topic, p)->offset = RD_KAFKA_OFFSET_BEGINNING;

    long long count = 0, bytes = 0;
    double start = now_s(), last_progress = start;
    rd_kafka_resp_err_t err = rd_kafka_assign(rk, list);
    if (err) die("assign: %s", rd_kafka_err2str(err));
    while (count < opt.records) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 500);
        if (!m) {
            if (now_s() - last_progress > opt.timeout_s)
                die("consume: %lld of %lld records, nothing new for %.0f s", count, opt.records, opt.timeout_s);
            continue;
        }
        if (m->err) {
            if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) die("consume: %s", rd_kafka_message_errstr(m));
        } else {
            count++;
            bytes += (long long)m->len;
            last_progress = now_s();
        }
        rd_kafka_message_destroy(m);
    }
    double elapsed = now_s() - start;
    rd_kafka_topic_partition_list_destroy(list);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    struct result r = {.records = count, .bytes = bytes, .elapsed_s = elapsed};
    print_json(&r);
}

/* MARK: latency (synchronous produce from concurrent callers) */

struct waiter {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int done;
    rd_kafka_resp_err_t err;
};

struct caller {
    pthread_t thread;
    int index;
    long long first, count; /* record indexes first..<first+count */
    rd_kafka_t *rk;
    rd_kafka_topic_t *rkt;
    uint64_t *latencies;    /* count entries, ns */
    struct waiter w;
};

static volatile int stop_polling;

static void waking_dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
    (void)rk;
    (void)opaque;
    struct waiter *w = m->_private;
    pthread_mutex_lock(&w->lock);
    w->done = 1;
    w->err = m->err;
    pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&w->lock);
}

static void *poll_thread(void *arg) {
    rd_kafka_t *rk = arg;
    while (!__atomic_load_n(&stop_polling, __ATOMIC_ACQUIRE)) rd_kafka_poll(rk, 50);
    return NULL;
}

static void *caller_thread(void *arg) {
    struct caller *c = arg;
    for (long long k = 0; k < c->count; k++) {
        long long i = c->first + k;
        int32_t partition = (int32_t)(i % opt.partitions);
        c->w.done = 0;
        uint64_t t0 = now_ns();
        while (rd_kafka_produce(c->rkt, partition, RD_KAFKA_MSG_F_COPY, (void *)value_for(i),
                                (size_t)opt.record_size, NULL, 0, &c->w) == -1) {
            rd_kafka_resp_err_t err = rd_kafka_last_error();
            if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) die("produce: %s", rd_kafka_err2str(err));
            usleep(100);
        }
        pthread_mutex_lock(&c->w.lock);
        while (!c->w.done) pthread_cond_wait(&c->w.cond, &c->w.lock);
        rd_kafka_resp_err_t err = c->w.err;
        pthread_mutex_unlock(&c->w.lock);
        c->latencies[k] = now_ns() - t0;
        if (err) die("caller %d: delivery failed: %s", c->index, rd_kafka_err2str(err));
    }
    return NULL;
}

static void run_latency(void) {
    make_value_pool();
    if (!opt.linger_ms) opt.linger_ms = "0"; /* each caller waits for its own record: do not hold it back */
    rd_kafka_conf_t *conf = producer_conf();
    rd_kafka_conf_set_dr_msg_cb(conf, waking_dr_cb);
    apply_extra_props(conf);
    rd_kafka_t *rk = new_client(RD_KAFKA_PRODUCER, conf);
    wait_for_partitions(rk, opt.partitions, 30);
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, opt.topic, NULL);

    /* Warm-up outside the clock: one record, so the producer id and the connection are in place. */
    struct waiter warm = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};
    if (rd_kafka_produce(rkt, 0, RD_KAFKA_MSG_F_COPY, (void *)value_for(0), (size_t)opt.record_size, NULL, 0,
                         &warm) == -1)
        die("warm-up produce: %s", rd_kafka_err2str(rd_kafka_last_error()));
    if (rd_kafka_flush(rk, 30000)) die("warm-up produce: not delivered within 30 s");
    if (warm.err) die("warm-up produce: %s", rd_kafka_err2str(warm.err));

    pthread_t poller;
    pthread_create(&poller, NULL, poll_thread, rk);

    int n = opt.concurrency;
    uint64_t *all = calloc((size_t)opt.records, sizeof *all);
    struct caller *callers = calloc((size_t)n, sizeof *callers);
    if (!all || !callers) die("out of memory");
    long long next = 0;
    for (int t = 0; t < n; t++) {
        struct caller *c = &callers[t];
        c->index = t;
        c->count = opt.records / n + (t < opt.records % n ? 1 : 0);
        c->first = next;
        next += c->count;
        c->rk = rk;
        c->rkt = rkt;
        c->latencies = all + c->first;
        pthread_mutex_init(&c->w.lock, NULL);
        pthread_cond_init(&c->w.cond, NULL);
    }
    double start = now_s();
    for (int t = 0; t < n; t++) pthread_create(&callers[t].thread, NULL, caller_thread, &callers[t]);
    for (int t = 0; t < n; t++) pthread_join(callers[t].thread, NULL);
    double elapsed = now_s() - start;
    __atomic_store_n(&stop_polling, 1, __ATOMIC_RELEASE);
    pthread_join(poller, NULL);

    qsort(all, (size_t)opt.records, sizeof *all, compare_u64);
    double sum = 0;
    for (long long i = 0; i < opt.records; i++) sum += (double)all[i];
    struct result r = {
        .records = opt.records,
        .bytes = opt.records * opt.record_size,
        .elapsed_s = elapsed,
        .has_latency = 1,
        .p50_us = percentile_us(all, (size_t)opt.records, 0.50),
        .p99_us = percentile_us(all, (size_t)opt.records, 0.99),
        .p999_us = percentile_us(all, (size_t)opt.records, 0.999),
        .max_us = (double)all[opt.records - 1] / 1000.0,
        .mean_us = sum / (double)opt.records / 1000.0,
    };
    rd_kafka_topic_destroy(rkt);
    rd_kafka_destroy(rk);
    print_json(&r);
}

int main(int argc, char **argv) {
    parse_options(argc, argv);
    const char *version = rd_kafka_version_str();
    if (strncmp(version, "2.16.", 5) != 0)
        die("linked against librdkafka %s; need 2.16.x (the confluent-kafka wheel's library, see scripts/bench.sh)",
            version);
    if (!strcmp(opt.mode, "create")) admin_topic(1);
    else if (!strcmp(opt.mode, "delete")) admin_topic(0);
    else if (!strcmp(opt.mode, "produce")) run_produce();
    else if (!strcmp(opt.mode, "consume")) run_consume();
    else if (!strcmp(opt.mode, "latency")) run_latency();
    else usage();
    return 0;
}
