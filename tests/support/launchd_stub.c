/*
 * A stand-in for launchd's launch_activate_socket(), so the ctypes binding in
 * socket_activation.launchd.activation is exercised on Linux against real C: a real malloc'd array of real
 * socket fds, each error code on demand, and a count of every malloc and free.
 *
 * Built by the tests (tests/_launchd_stub.py) with the system compiler into a temp dir:
 *   gcc -shared -fPIC -o launchd_stub.so launchd_stub.c -ldl
 *
 * What it answers comes from a spec string, set with stub_configure() (through ctypes) or, when
 * never configured, read once from $LAUNCHD_STUB_SPEC (for a child process). Entries separated
 * by ';', each NAME=ANSWER:
 *
 *   web=5,6        success: an array of dup(5), dup(6) (fresh fds, no CLOEXEC, like launchd's)
 *   web=@999       success: the number 999 as is (not dup'd), e.g. to hand back a closed fd
 *   web=           success with cnt 0 and no array
 *   web=!1         return errno 1 (EPERM); *fds and *cnt untouched
 *   web=!1+array   return errno 1 but also store a malloc'd array (a caller must still free it)
 *   *=!3           the answer for every name not listed (default: ENOENT, as launchd's)
 *
 * As launchd does, a name answered with success once returns EALREADY on every later call
 * (until the next stub_configure). launchd's own free() is libSystem's; here the exported
 * free() counts frees of arrays this stub allocated and forwards them to the real free (found
 * with dlsym(RTLD_NEXT)); any other pointer is counted as a bad free and NOT freed, so a double
 * free shows up as a count instead of a crash. The library is loaded RTLD_LOCAL by ctypes, so
 * only callers that look free() up through this library's handle reach it.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SPEC_MAX 4096
#define NAME_MAX_LEN 256
#define LIVE_MAX 256
#define FDS_MAX 64
#define ACTIVATED_MAX 64

static char spec[SPEC_MAX];
static int configured;
static long calls, allocs, frees, bad_frees;
static void *live[LIVE_MAX];
static char activated[ACTIVATED_MAX][NAME_MAX_LEN];
static int n_activated;
static char last_name[NAME_MAX_LEN];

static void reset(void) {
    calls = allocs = frees = bad_frees = 0;
    n_activated = 0;
    last_name[0] = '\0';
    /* arrays still live from an earlier configuration stay tracked so that a late free of one
     * is still counted as good, not bad */
}

int stub_configure(const char *text) {
    if (text == NULL || strlen(text) >= SPEC_MAX) return -1;
    strcpy(spec, text);
    configured = 1;
    reset();
    return 0;
}

long stub_call_count(void) { return calls; }
long stub_alloc_count(void) { return allocs; }
long stub_free_count(void) { return frees; }
long stub_bad_free_count(void) { return bad_frees; }
const char *stub_last_name(void) { return last_name; }

/* arrays allocated and not yet freed */
long stub_live_count(void) {
    long n = 0;
    for (int i = 0; i < LIVE_MAX; i++) n += live[i] != NULL;
    return n;
}

void free(void *ptr) {
    static void (*real_free)(void *);
    if (ptr == NULL) return;
    for (int i = 0; i < LIVE_MAX; i++) {
        if (live[i] == ptr) {
            live[i] = NULL;
            frees++;
            if (real_free == NULL) real_free = (void (*)(void *))dlsym(RTLD_NEXT, "free");
            real_free(ptr);
            return;
        }
    }
    bad_frees++;
}

static int *new_array(size_t n) {
    int *array = malloc((n ? n : 1) * sizeof(int));
    if (array == NULL) return NULL;
    for (int i = 0; i < LIVE_MAX; i++) {
        if (live[i] == NULL) {
            live[i] = array;
            allocs++;
            return array;
        }
    }
    /* table full: give it back through the real free, never reached by the tests */
    ((void (*)(void *))dlsym(RTLD_NEXT, "free"))(array);
    return NULL;
}

/* The answer text for NAME (points into spec, ends at ';' or NUL), or NULL if not listed. */
static const char *answer_for(const char *name, const char **fallback) {
    const char *p = spec;
    size_t len = strlen(name);
    *fallback = NULL;
    while (*p) {
        const char *end = strchr(p, ';');
        const char *eq = strchr(p, '=');
        if (end == NULL) end = p + strlen(p);
        if (eq != NULL && eq < end) {
            if ((size_t)(eq - p) == len && strncmp(p, name, len) == 0) return eq + 1;
            if (eq - p == 1 && *p == '*') *fallback = eq + 1;
        }
        p = *end ? end + 1 : end;
    }
    return NULL;
}

static int was_activated(const char *name) {
    for (int i = 0; i < n_activated; i++)
        if (strcmp(activated[i], name) == 0) return 1;
    return 0;
}

int launch_activate_socket(const char *name, int **fds, size_t *cnt) {
    const char *fallback, *answer;
    int values[FDS_MAX];
    size_t n = 0;

    calls++;
    if (!configured) {
        const char *env = getenv("LAUNCHD_STUB_SPEC");
        if (stub_configure(env ? env : "") != 0) return E2BIG;
        calls = 1;
    }
    if (name == NULL || fds == NULL || cnt == NULL) return EINVAL;
    strncpy(last_name, name, NAME_MAX_LEN - 1);
    last_name[NAME_MAX_LEN - 1] = '\0';

    answer = answer_for(name, &fallback);
    if (answer == NULL) answer = fallback;
    if (answer == NULL) return ENOENT;

    if (*answer == '!') {
        char *rest;
        long err = strtol(answer + 1, &rest, 10);
        if (strncmp(rest, "+array", 6) == 0) {
            int *array = new_array(1);
            if (array == NULL) return ENOMEM;
            array[0] = -1;
            *fds = array;
            *cnt = 1;
        }
        return (int)err;
    }

    if (was_activated(name)) return EALREADY;

    while (*answer && *answer != ';' && n < FDS_MAX) {
        char *rest;
        int raw = *answer == '@';
        long fd = strtol(answer + raw, &rest, 10);
        if (rest == answer + raw) return EINVAL; /* not a number: a bad spec */
        if (raw) {
            values[n++] = (int)fd;
        } else {
            int copy = dup((int)fd);
            if (copy < 0) return errno;
            values[n++] = copy;
        }
        answer = *rest == ',' ? rest + 1 : rest;
    }
    if (n_activated < ACTIVATED_MAX) {
        strncpy(activated[n_activated], name, NAME_MAX_LEN - 1);
        activated[n_activated][NAME_MAX_LEN - 1] = '\0';
        n_activated++;
    }
    if (n == 0) {
        *fds = NULL;
        *cnt = 0;
        return 0;
    }
    *fds = new_array(n);
    if (*fds == NULL) return ENOMEM;
    memcpy(*fds, values, n * sizeof(int));
    *cnt = n;
    return 0;
}
