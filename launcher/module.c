/* module.c: `_pylaunchd`, the C half of the agents' module, and the loader of the Python
 * modules marshalled into the binary at build time (pylaunchd.py, install.py). */
#include <Python.h>
#include <errno.h>
#include <marshal.h>
#include <poll.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "notify.h"
#include "options.h"
#include "peercred.h"
#include "strictmodes.h"
#include "module.h"
#include "embedded.h"

#if (PYLAUNCHD_EMBED_HEXVERSION >> 16) != (PY_VERSION_HEX >> 16)
#error "embedded.h was marshalled by another Python minor version than the one embedded"
#endif

static enum origin module_origin = ORIGIN_NONE;
static const char *module_executable = "";
static const struct listener_set *module_listeners;
static uint64_t module_idle_usec;
static atomic_bool module_status_owned;
static const struct access_policy *module_policy;

void module_set_access(const struct access_policy *policy) {
        module_policy = policy;
}

void module_set_listeners(const struct listener_set *set) {
        module_listeners = set;
}

void module_set_idle_timeout(uint64_t usec) {
        module_idle_usec = usec;
}

bool module_agent_owns_status(void) {
        return atomic_load(&module_status_owned);
}

/* _pylaunchd.notify(state) -> bool: True when sent, False when no manager listens. */
static PyObject *c_notify(PyObject *self, PyObject *arg) {
        const char *state = PyUnicode_AsUTF8(arg);
        int r;

        (void)self;
        if (!state)
                return NULL;
        if (strncmp(state, "STATUS=", 7) == 0 || strstr(state, "\nSTATUS="))
                atomic_store(&module_status_owned, true);
        Py_BEGIN_ALLOW_THREADS
        r = notify_send("%s", state);
        Py_END_ALLOW_THREADS
        if (r < 0) {
                errno = -r;
                return PyErr_SetFromErrno(PyExc_OSError);
        }
        return PyBool_FromLong(r > 0);
}

/* _pylaunchd.peer(fd) -> (pid, uid, gid) of a unix socket's peer. */
static PyObject *c_peer(PyObject *self, PyObject *arg) {
        struct peercred pc;
        int fd = PyObject_AsFileDescriptor(arg), r;

        (void)self;
        if (fd < 0)
                return NULL;
        r = peercred_get(fd, &pc);
        if (r < 0) {
                errno = -r;
                return PyErr_SetFromErrno(PyExc_OSError);
        }
        return Py_BuildValue("(lll)", (long)pc.pid, (long)pc.uid, (long)pc.gid);
}

static int set_timeouts(int fd, uint64_t usec) {
        struct timeval tv = { .tv_sec = (time_t)(usec / 1000000), .tv_usec = (suseconds_t)(usec % 1000000) };

        if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) < 0 ||
            setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv) < 0)
                return -errno;
        return 0;
}

/* seconds, 0 to 1e9, to microseconds; -1 with ValueError. */
static int64_t timeout_usec(double seconds) {
        if (!(seconds >= 0) || seconds > 1e9) {
                PyErr_SetString(PyExc_ValueError, "seconds must be from 0 (no limit) to 1e9");
                return -1;
        }
        return (int64_t)(seconds * 1e6 + 0.5);
}

/* _pylaunchd.set_idle_timeout(fd, seconds): SO_RCVTIMEO and SO_SNDTIMEO. */
static PyObject *c_set_idle_timeout(PyObject *self, PyObject *args) {
        PyObject *conn;
        double seconds;
        int64_t usec;
        int fd;

        (void)self;
        if (!PyArg_ParseTuple(args, "Od:set_idle_timeout", &conn, &seconds))
                return NULL;
        fd = PyObject_AsFileDescriptor(conn);
        if (fd < 0 || (usec = timeout_usec(seconds)) < 0)
                return NULL;
        if ((errno = -set_timeouts(fd, (uint64_t)usec)) != 0)
                return PyErr_SetFromErrno(PyExc_OSError);
        Py_RETURN_NONE;
}

/* The connection timeout in microseconds (0: none). Set on each connection, never on a listener
 * once for the kernel to copy: a TCP connection copies its listener's options when the handshake
 * completes, so the ones queued before the agent set it (the very connection that started us)
 * would go without, and a manager's listener would carry the limit on to the next instance's
 * connections, whatever that agent says (tests/e2e/test_module.py, ConnectionLimit). */
static _Atomic uint64_t conn_timeout_usec;

void module_connection_timeout(int fd, const struct sockinfo *info) {
        uint64_t usec = atomic_load(&conn_timeout_usec);

        /* Streams only: datagram sockets and FIFOs are the listener itself. */
        if (usec && (info->role == SOCK_ROLE_LISTENING || info->role == SOCK_ROLE_CONNECTED))
                (void)set_timeouts(fd, usec);
}

/* _pylaunchd.set_connection_timeout(seconds) */
static PyObject *c_set_connection_timeout(PyObject *self, PyObject *arg) {
        double seconds = PyFloat_AsDouble(arg);
        int64_t usec;

        (void)self;
        if ((seconds == -1.0 && PyErr_Occurred()) || (usec = timeout_usec(seconds)) < 0)
                return NULL;
        atomic_store(&conn_timeout_usec, (uint64_t)usec);
        Py_RETURN_NONE;
}

/* _pylaunchd.connection_timeout() -> seconds (0: none) */
static PyObject *c_connection_timeout(PyObject *self, PyObject *unused) {
        (void)self;
        (void)unused;
        return PyFloat_FromDouble((double)atomic_load(&conn_timeout_usec) / 1e6);
}

/* Until a datagram from an allowed sender heads the queue, dropping others'; GIL released.
 * timeout_ms < 0 waits for ever. Returns 0, or -EAGAIN (nothing, no wait), -ETIMEDOUT, -errno. */
static int await_allowed_datagram(int fd, int family, int timeout_ms) {
        struct pollfd p = { .fd = fd, .events = POLLIN };
        uint64_t until = 0;

        if (timeout_ms > 0) {
                struct timespec ts;
                clock_gettime(CLOCK_MONOTONIC, &ts);
                until = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000 + (uint64_t)timeout_ms;
        }
        for (;;) {
                struct access_peer peer;
                char who[160];
                int r = access_check_datagram(module_policy, fd, family, &peer), wait = timeout_ms;

                if (r > 0)
                        return 0;
                if (r == 0) {
                        log_ratelimited(LOG_LEVEL_WARNING,
                                        "dropped a datagram from %s: only uid %ld may send; --allow-uid or --allow-gid "
                                        "let others in",
                                        access_peer_describe(&peer, who, sizeof who), (long)module_policy->owner);
                        continue;
                }
                if (r != -EAGAIN && r != -EWOULDBLOCK)
                        return r;
                if (timeout_ms == 0)
                        return -EAGAIN;
                if (timeout_ms > 0) {
                        struct timespec ts;
                        uint64_t now;
                        clock_gettime(CLOCK_MONOTONIC, &ts);
                        now = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
                        if (now >= until)
                                return -ETIMEDOUT;
                        wait = (int)(until - now);
                }
                if (poll(&p, 1, wait) < 0 && errno != EINTR)
                        return -errno;
        }
}

/* _pylaunchd.check_datagram(sock, family, timeout): before a recv*() on a datagram socket handed
 * to handle(): the next datagram it reads comes from an allowed sender. timeout as the socket's
 * (None: wait; 0: BlockingIOError; t: TimeoutError after t seconds). */
static PyObject *c_check_datagram(PyObject *self, PyObject *args) {
        PyObject *sock, *timeout;
        int fd, family, ms = -1, r;
        double t;

        (void)self;
        if (!PyArg_ParseTuple(args, "OiO:check_datagram", &sock, &family, &timeout))
                return NULL;
        if ((fd = PyObject_AsFileDescriptor(sock)) < 0)
                return NULL;
        if (!module_policy)
                Py_RETURN_NONE; /* not serving (a test driving the agent by hand) */
        if (timeout != Py_None) {
                t = PyFloat_AsDouble(timeout);
                if (t == -1.0 && PyErr_Occurred())
                        return NULL;
                ms = t <= 0 ? 0 : t > 1e9 ? 1000000000 : (int)(t * 1000.0 + 0.5);
        }
        Py_BEGIN_ALLOW_THREADS
        r = await_allowed_datagram(fd, family, ms);
        Py_END_ALLOW_THREADS
        if (r == 0)
                Py_RETURN_NONE;
        if (r == -ETIMEDOUT) {
                PyErr_SetString(PyExc_TimeoutError, "timed out");
                return NULL;
        }
        errno = -r;
        return PyErr_SetFromErrno(PyExc_OSError);
}

static const char *kind_name(int type) {
        switch (type) {
        case SOCK_STREAM:
                return "stream";
        case SOCK_DGRAM:
                return "datagram";
        case SOCK_SEQPACKET:
                return "seqpacket";
        }
        return "fifo";
}

/* _pylaunchd.listeners() -> [(name, fd, family, kind, role), ...] as checked in. */
static PyObject *c_listeners(PyObject *self, PyObject *unused) {
        PyObject *list = PyList_New(0);

        (void)self;
        (void)unused;
        for (size_t i = 0; list && module_listeners && i < module_listeners->n; i++) {
                const struct listener *l = &module_listeners->v[i];
                PyObject *t = Py_BuildValue("(sisss)", l->name, l->fd, sock_family_name(l->info.family),
                                            kind_name(l->info.type), sock_role_name(l->info.role));
                if (!t || PyList_Append(list, t) < 0)
                        Py_CLEAR(list);
                Py_XDECREF(t);
        }
        return list;
}

void module_set_origin(enum origin origin) {
        module_origin = origin;
}

void module_set_executable(const char *path) {
        module_executable = path;
}

/* _pylaunchd.template(name) -> bytes: a unit or plist template compiled into the binary. */
static PyObject *c_template(PyObject *self, PyObject *arg) {
        const char *name = PyUnicode_AsUTF8(arg);

        (void)self;
        if (!name)
                return NULL;
        for (const struct embedded *e = embedded_templates; e->name; e++)
                if (strcmp(e->name, name) == 0)
                        return PyBytes_FromStringAndSize((const char *)e->data, (Py_ssize_t)e->size);
        PyErr_Format(PyExc_KeyError, "no template named %R", arg);
        return NULL;
}

/* _pylaunchd.check_options(argv) -> bool: the launcher's own parser (options.c) run on
 * ["pylaunchd", *argv, "AGENT.py"], so `pylaunchd install` accepts exactly the options the
 * service will be started with. False once options_parse() has said why on stderr. */
static PyObject *c_check_options(PyObject *self, PyObject *arg) {
        struct options opts;
        Py_ssize_t n;
        char **argv;
        int r = -EINVAL;

        (void)self;
        if (!PyList_Check(arg)) {
                PyErr_SetString(PyExc_TypeError, "check_options() takes a list of str");
                return NULL;
        }
        n = PyList_GET_SIZE(arg);
        argv = PyMem_Calloc((size_t)n + 3, sizeof *argv);
        if (!argv)
                return PyErr_NoMemory();
        argv[0] = "pylaunchd";
        for (Py_ssize_t i = 0; i < n; i++) {
                /* Borrowed from the list, which the caller keeps alive for the call. */
                PyObject *item = PyList_GET_ITEM(arg, i);
                Py_ssize_t len = 0;
                const char *s = PyUnicode_Check(item) ? PyUnicode_AsUTF8AndSize(item, &len) : NULL;
                if (!s || strlen(s) != (size_t)len) {
                        if (!PyErr_Occurred())
                                PyErr_SetString(s ? PyExc_ValueError : PyExc_TypeError,
                                                s ? "check_options(): embedded null character"
                                                  : "check_options() takes a list of str");
                        goto finish;
                }
                argv[i + 1] = (char *)s;
        }
        argv[n + 1] = "AGENT.py";
        r = options_parse((int)n + 2, argv, &opts);
finish:
        PyMem_Free(argv);
        if (PyErr_Occurred())
                return NULL;
        return PyBool_FromLong(r == OPTIONS_RUN);
}

/* _pylaunchd.check_strict(path, is_dir) -> str: the launcher's StrictModes rule (strictmodes.c, with
 * ACLs and the private group) for the current uid, so `pylaunchd sync` refuses exactly what a
 * start would: "" when safe, else the reason ("/x is writable by group (mode 0775)"). For a
 * directory, nobody else may create entries in it (strictmodes_check_dir). OSError otherwise. */
static PyObject *c_check_strict(PyObject *self, PyObject *args) {
        char why[4096 + 256] = "";
        const char *path;
        int is_dir, r;

        (void)self;
        if (!PyArg_ParseTuple(args, "sp", &path, &is_dir))
                return NULL;
        r = is_dir ? strictmodes_check_dir(path, getuid(), false, why, sizeof why)
                   : strictmodes_check(path, getuid(), why, sizeof why);
        if (r == -EPERM)
                return PyUnicode_DecodeFSDefault(why);
        if (r < 0) {
                errno = -r;
                return PyErr_SetFromErrnoWithFilename(PyExc_OSError, path);
        }
        return PyUnicode_FromString("");
}

static PyMethodDef c_methods[] = {
        { "notify", c_notify, METH_O, "notify(state) -> bool: send sd_notify fields" },
        { "peer", c_peer, METH_O, "peer(fd) -> (pid, uid, gid) of a unix socket's peer" },
        { "listeners", c_listeners, METH_NOARGS, "listeners() -> [(name, fd, family, kind, role)]" },
        { "check_datagram", c_check_datagram, METH_VARARGS,
          "check_datagram(sock, family, timeout): the next datagram comes from an allowed sender" },
        { "set_idle_timeout", c_set_idle_timeout, METH_VARARGS, "set_idle_timeout(fd, seconds): SO_RCVTIMEO, SO_SNDTIMEO" },
        { "set_connection_timeout", c_set_connection_timeout, METH_O,
          "set_connection_timeout(seconds): every connection accepted from now on starts with it" },
        { "connection_timeout", c_connection_timeout, METH_NOARGS, "connection_timeout() -> seconds, 0 for none" },
        { "template", c_template, METH_O, "template(name) -> bytes: a template compiled into the launcher" },
        { "check_options", c_check_options, METH_O,
          "check_options(argv) -> bool: the launcher's own parser on argv; False after it printed why" },
        { "check_strict", c_check_strict, METH_VARARGS,
          "check_strict(path, is_dir) -> str: why others could write PATH (StrictModes), '' when none can" },
        { NULL, NULL, 0, NULL },
};

static struct PyModuleDef c_module_def = {
        PyModuleDef_HEAD_INIT,
        .m_name = "_pylaunchd",
        .m_doc = "The launcher's side of the pylaunchd module; import pylaunchd instead.",
        .m_size = -1,
        .m_methods = c_methods,
};

static PyObject *c_module_init(void) {
        PyObject *m = PyModule_Create(&c_module_def), *idle;

        if (!m)
                return NULL;
        idle = module_idle_usec ? PyFloat_FromDouble((double)module_idle_usec / 1e6) : Py_NewRef(Py_None);
        if (!idle || PyModule_AddStringConstant(m, "version", PYLAUNCHD_VERSION) < 0 ||
            PyModule_AddStringConstant(m, "started_by", origin_name(module_origin)) < 0 ||
            PyModule_AddStringConstant(m, "executable", module_executable) < 0 ||
            PyModule_AddStringConstant(m, "python", PYLAUNCHD_PYTHON) < 0 ||
            PyModule_AddObjectRef(m, "idle_timeout", idle) < 0 ||
            PyModule_AddObjectRef(m, "journal", log_is_journal() ? Py_True : Py_False) < 0) {
                Py_XDECREF(idle);
                Py_DECREF(m);
                return NULL;
        }
        Py_DECREF(idle);
        return m;
}

/* The standard library modules frozen into the launcher (cmake/embed.py): found before the path
 * finder looks, so the encodings every start needs cost no directory listing, stat or read. A
 * frozen package still gets its real directory as __path__ (FrozenImporter, from sys._stdlib_dir),
 * so the other codecs load from disk as usual. */
static struct _frozen frozen[sizeof embedded_frozen / sizeof embedded_frozen[0]];

int module_register(void) {
        for (size_t i = 0; embedded_frozen[i].name; i++)
                frozen[i] = (struct _frozen){ .name = embedded_frozen[i].name, .code = embedded_frozen[i].data,
                                              .size = embedded_frozen[i].size, .is_package = embedded_frozen[i].is_package };
        PyImport_FrozenModules = frozen;
        return PyImport_AppendInittab("_pylaunchd", c_module_init) < 0 ? -ENOMEM : 0;
}

PyObject *module_load(const char *name) {
        PyObject *code, *m;

        for (const struct embedded *e = embedded_modules; e->name; e++) {
                if (strcmp(e->name, name) != 0)
                        continue;
                code = PyMarshal_ReadObjectFromString((const char *)e->data, (Py_ssize_t)e->size);
                if (!code)
                        return NULL;
                m = PyImport_ExecCodeModule(name, code);
                Py_DECREF(code);
                return m;
        }
        PyErr_Format(PyExc_ImportError, "no module named %s compiled into the launcher", name);
        return NULL;
}
