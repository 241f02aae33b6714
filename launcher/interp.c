/* interp.c: the embedded CPython. Each choice here answers a pitfall measured on this project's
 * machines (see README, "Embedding"): UTF-8 mode, no Python signal handlers, sys.executable,
 * SystemExit handled here instead of by PyErr_Print (which would call exit()). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#ifdef __APPLE__
#include <mach-o/dyld.h>
#endif

#include "config.h"
#include "exitcode.h"
#include "interp.h"
#include "log.h"
#include "module.h"
#include "parse.h"
#include "strictmodes.h"

#define PYLAUNCHD_STR_(x) #x
#define PYLAUNCHD_STR(x) PYLAUNCHD_STR_(x)
/* "3.11": the minor version's directory names. */
#define PYLAUNCHD_PY_XY PYLAUNCHD_STR(PY_MAJOR_VERSION) "." PYLAUNCHD_STR(PY_MINOR_VERSION)

/* StrictModes for the agent: the file and every directory above it (strictmodes_check), and its
 * own directory, which becomes sys.path[0]: whoever can create a file there (even in a sticky
 * directory such as /tmp) can plant json.py or a package and have it imported as the agent's
 * user. With --no-strict-modes such a directory is still used, but its __pycache__ is neither
 * read nor written (agent->dir_shared). */
static int check_agent_safe(struct agent *agent, bool strict, uid_t uid) {
        char why[PATH_MAX + 128];
        int r = strictmodes_check(agent->path, uid, why, sizeof why);

        if (r == -EPERM && strict) {
                log_error("refusing agent %s: %s, so someone else could change the code that runs as "
                          "you; chmod go-w or chown it (or pass --no-strict-modes)",
                          agent->path, why);
                return EXIT_AGENT_UNSAFE;
        }
        if (r < 0 && r != -EPERM) {
                log_errno(LOG_LEVEL_ERR, r, "cannot check the permissions of agent %s", agent->path);
                return EXIT_AGENT_MISSING;
        }
        r = strictmodes_check_dir(agent->dir, uid, false, why, sizeof why);
        if (r == -EPERM) {
                if (!strict) {
                        agent->dir_shared = true;
                        return EXIT_OK;
                }
                log_error("refusing agent %s: %s; others can create files in the agent's directory, which "
                          "is first on sys.path, and Python would import them in place of the modules the "
                          "agent imports. Keep the agent in a directory of your own (mkdir -m 700 ~/agents) "
                          "or pass --no-strict-modes",
                          agent->path, why);
                return EXIT_AGENT_UNSAFE;
        }
        if (r < 0) {
                log_errno(LOG_LEVEL_ERR, r, "cannot check the permissions of %s", agent->dir);
                return EXIT_AGENT_MISSING;
        }
        return EXIT_OK;
}

int agent_locate(const char *arg, bool strict, uid_t uid, struct agent *ret) {
        char resolved[PATH_MAX], *slash;
        struct stat st;
        int fd;

        memset(ret, 0, sizeof *ret);
        if (!realpath(arg, resolved)) {
                log_errno(LOG_LEVEL_ERR, errno, "agent %s cannot be found; give the path of the agent's .py file", arg);
                return EXIT_AGENT_MISSING;
        }
        fd = open(resolved, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
                log_errno(LOG_LEVEL_ERR, errno, "agent %s cannot be read; check its permissions", resolved);
                return EXIT_AGENT_MISSING;
        }
        if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
                close(fd);
                log_error("agent %s is not a regular file; give the path of the agent's .py file", resolved);
                return EXIT_AGENT_MISSING;
        }
        close(fd);
        if (strlen(resolved) >= sizeof ret->path) {
                log_error("agent path %s is too long", resolved);
                return EXIT_AGENT_MISSING;
        }
        if (agent_module_name(resolved, ret->name, sizeof ret->name) < 0) {
                log_error("agent %s: the file name must be a Python module name ending in .py "
                          "(letters, digits, underscores; e.g. Agent.py); rename it",
                          resolved);
                return EXIT_AGENT_BROKEN;
        }
        strcpy(ret->path, resolved);
        strcpy(ret->dir, resolved);
        slash = strrchr(ret->dir, '/');
        if (slash == ret->dir)
                slash[1] = '\0';
        else
                *slash = '\0';
        return check_agent_safe(ret, strict, uid);
}

/* The collector back on, after start-up kept it off (start()): what start-up made is moved to
 * the permanent generation first (gc.freeze()), as it is never garbage, so no collection ever
 * walks it again (and a forked worker never writes to its pages), and the collection the
 * postponed count would start at once does not happen. */
static void gc_resume(void) {
        PyObject *gc = PyImport_ImportModule("gc"), *r = gc ? PyObject_CallMethod(gc, "freeze", NULL) : NULL;

        if (!r)
                PyErr_Clear();
        Py_XDECREF(r);
        Py_XDECREF(gc);
        PyGC_Enable();
}

static int status_failed(PyStatus status, const char *what) {
        if (PyStatus_IsExit(status))
                return status.exitcode;
        log_error("%s: %s%s%s", what, status.func ? status.func : "", status.func ? ": " : "",
                  status.err_msg ? status.err_msg : "unknown error");
        return EXIT_AGENT_FAILED;
}

/* --venv DIR: the interpreter to name as sys.executable, once DIR is a virtualenv made by the
 * Python minor version we embed (one made by another version would lose its site-packages
 * silently). Returns EXIT_OK or EXIT_USAGE after saying what to do. */
static int venv_python(const char *dir, char *ret, size_t size) {
        char cfg_path[PATH_MAX + 16], resolved[PATH_MAX], text[4096];
        int major, minor, fd;
        ssize_t n;

        /* Absolute: sys.executable must still name the venv's python after the agent chdirs. */
        if (!realpath(dir, resolved)) {
                log_errno(LOG_LEVEL_ERR, errno,
                          "--venv %s is not a virtualenv (no pyvenv.cfg there); create one with '%s -m venv %s'",
                          dir, PYLAUNCHD_PYTHON, dir);
                return EXIT_USAGE;
        }
        dir = resolved;
        snprintf(cfg_path, sizeof cfg_path, "%s/pyvenv.cfg", dir);
        fd = open(cfg_path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
                log_errno(LOG_LEVEL_ERR, errno,
                          "--venv %s is not a virtualenv (no readable pyvenv.cfg); create one with "
                          "'%s -m venv %s'",
                          dir, PYLAUNCHD_PYTHON, dir);
                return EXIT_USAGE;
        }
        n = read(fd, text, sizeof text - 1);
        close(fd);
        text[n > 0 ? n : 0] = '\0';
        if (parse_pyvenv_version(text, &major, &minor) < 0) {
                log_error("--venv %s: pyvenv.cfg names no Python version; recreate it with '%s -m venv %s'", dir,
                          PYLAUNCHD_PYTHON, dir);
                return EXIT_USAGE;
        }
        if (major != PY_MAJOR_VERSION || minor != PY_MINOR_VERSION) {
                log_error("--venv %s was made by Python %d.%d, but pylaunchd embeds Python %s (%s), which would "
                          "not see its packages: recreate it with '%s -m venv %s'",
                          dir, major, minor, PY_VERSION, PYLAUNCHD_PYTHON, PYLAUNCHD_PYTHON, dir);
                return EXIT_USAGE;
        }
        if ((size_t)snprintf(ret, size, "%s/bin/python3", dir) >= size || access(ret, X_OK) < 0) {
                log_error("--venv %s has no bin/python3; recreate it with '%s -m venv %s'", dir, PYLAUNCHD_PYTHON, dir);
                return EXIT_USAGE;
        }
        return EXIT_OK;
}

/* Where the interpreter we embed lives, as it found itself at build time (config.h), given as its
 * home: getpath then probes nothing (no pyvenv.cfg, ._pth, pybuilddir.txt, landmark searches;
 * measured, ~25 fewer syscalls) and derives the same sys.prefix, sys.path and sys._stdlib_dir from
 * it. Not for --venv, whose pyvenv.cfg getpath must read. */
static PyStatus known_home(PyConfig *config) {
        return PyConfig_SetString(config, &config->home, PYLAUNCHD_PYTHON_HOME);
}

/* Starts an isolated interpreter in UTF-8 mode with sys.argv = argv and what opts asks (NULL for
 * the tools). GIL held on success. */
static int start(int argc, char **argv, const struct options *opts, bool write_bytecode) {
        char executable[PATH_MAX] = PYLAUNCHD_PYTHON;
        PyPreConfig pre;
        PyConfig config;
        PyStatus status;

        if (opts && opts->venv) {
                int r = venv_python(opts->venv, executable, sizeof executable);
                if (r != EXIT_OK)
                        return r;
        }
        if (module_register() < 0) {
                log_error("cannot register the pylaunchd module");
                return EXIT_AGENT_FAILED;
        }
        /* Isolated: no PYTHON* variables, no user site, no cwd on sys.path. The isolated
         * pre-config leaves the locale alone, so without UTF-8 mode the stdio and file-system
         * encodings are ASCII and print("café") raises. */
        PyPreConfig_InitIsolatedConfig(&pre);
        pre.utf8_mode = 1;
        pre.dev_mode = opts && opts->dev_mode;
        status = Py_PreInitialize(&pre);
        if (PyStatus_Exception(status))
                return status_failed(status, "cannot pre-initialize Python");

        PyConfig_InitIsolatedConfig(&config);
        /* The launcher owns SIGINT and SIGTERM (signals.c); Python installs no handlers. */
        config.install_signal_handlers = 0;
        config.parse_argv = 0;
        /* Never a __pycache__ in a directory others can write (an agent run with --no-strict-modes). */
        config.write_bytecode = write_bytecode;
        if (opts) {
                /* What PYTHONUNBUFFERED, PYTHONDEVMODE, PYTHONWARNINGS, ... would do, since isolated
                 * mode ignores them. */
                config.site_import = opts->site;
                config.buffered_stdio = !opts->unbuffered;
                config.dev_mode = opts->dev_mode;
                config.faulthandler = opts->faulthandler || opts->dev_mode;
                config.import_time = opts->import_time;
        } else
                config.site_import = 0;
        /* sys.executable is the real interpreter (or the venv's), not this launcher: multiprocessing's
         * spawn and subprocess.run([sys.executable, ...]) must start Python. With site, naming a
         * venv's python here is what makes its site-packages importable. */
        status = PyConfig_SetBytesString(&config, &config.executable, executable);
        if (!PyStatus_Exception(status))
                status = PyConfig_SetBytesString(&config, &config.program_name, executable);
        if (!PyStatus_Exception(status))
                status = PyConfig_SetBytesArgv(&config, argc, argv);
        if (!(opts && opts->venv) && !PyStatus_Exception(status))
                status = known_home(&config);
        for (size_t i = 0; opts && i < opts->n_warnings && !PyStatus_Exception(status); i++) {
                wchar_t *w = Py_DecodeLocale(opts->warnings[i], NULL);
                status = w ? PyWideStringList_Append(&config.warnoptions, w) : PyStatus_NoMemory();
                PyMem_RawFree(w);
        }
        /* In two phases, to turn the cyclic collector off in between: start-up makes thousands of
         * objects and no garbage worth a collection (measured: 5% of a cold start's instructions,
         * in 6 collections). gc_resume() turns it back on before the agent's code runs. The
         * two-phase API is CPython's provisional one (PEP 587); where it is gone, in one phase. */
#if PY_VERSION_HEX < 0x030E0000
        config._init_main = 0;
#endif
        if (!PyStatus_Exception(status))
                status = Py_InitializeFromConfig(&config);
        if (!PyStatus_Exception(status)) {
                PyGC_Disable();
#if PY_VERSION_HEX < 0x030E0000
                status = _Py_InitializeMain();
#endif
        }
        PyConfig_Clear(&config);
        if (PyStatus_Exception(status))
                return status_failed(status, "cannot start Python");
        return EXIT_OK;
}

/* A directory on sys.path is code: nobody but uid or root may create files in it, and for an entry
 * that does not exist (python311.zip) nobody else may create it, so its nearest existing directory
 * is checked. A file entry (a zip) is checked as an agent file is. Relative entries: isolated mode
 * puts none there. Returns 0, or -EPERM with the reason in why. */
static int check_path_entry(const char *entry, uid_t uid, char *why, size_t size) {
        char buf[PATH_MAX];
        struct stat st;
        char *slash;

        if (entry[0] != '/' || strlen(entry) >= sizeof buf)
                return 0;
        strcpy(buf, entry);
        while (stat(buf, &st) < 0) {
                if (errno != ENOENT && errno != ENOTDIR)
                        return -errno;
                slash = strrchr(buf, '/');
                if (!slash || slash == buf)
                        return 0; /* nothing exists but "/", checked as an ancestor anyway */
                *slash = '\0';
        }
        if (S_ISDIR(st.st_mode))
                return strictmodes_check_dir(buf, uid, false, why, size);
        return strictmodes_check(buf, uid, why, size);
}

static int refuse_path_entry(const char *entry, const char *from, int r, const char *why) {
        if (r == -EPERM)
                log_error("refusing to start: %s is on sys.path (%s), but %s, so someone else could plant "
                          "modules there that the agent would import; fix its owner or mode (chmod go-w), or "
                          "pass --no-strict-modes",
                          entry, from, why);
        else
                log_errno(LOG_LEVEL_ERR, r, "cannot check %s, which is on sys.path (%s)", entry, from);
        return EXIT_AGENT_UNSAFE;
}

/* Before the interpreter starts: the directories `site` will read (.pth files in them run code
 * while Python initializes, before anything could be checked afterwards). */
static int check_site_dirs(const struct options *opts, uid_t uid) {
        char prefix[PATH_MAX], venv[PATH_MAX], dir[PATH_MAX + 64], why[PATH_MAX + 128], *slash;
        /* Where Debian's site module looks (site.getsitepackages()), under the prefix. */
        static const char *const system_dirs[] = { "lib/python3/dist-packages", "local/lib/python" PYLAUNCHD_PY_XY "/dist-packages",
                                                   "lib/python" PYLAUNCHD_PY_XY "/dist-packages",
                                                   "lib/python" PYLAUNCHD_PY_XY "/site-packages" };
        int r;

        /* The prefix of the interpreter we embed: /usr/bin/python3.11 -> /usr. */
        snprintf(prefix, sizeof prefix, "%s", PYLAUNCHD_PYTHON);
        for (int i = 0; i < 2 && (slash = strrchr(prefix, '/')); i++)
                *slash = '\0';
        for (size_t i = 0; i < sizeof system_dirs / sizeof system_dirs[0]; i++) {
                snprintf(dir, sizeof dir, "%s/%s", prefix, system_dirs[i]);
                if ((r = check_path_entry(dir, uid, why, sizeof why)) < 0)
                        return refuse_path_entry(dir, "--site", r, why);
        }
        if (opts->venv && realpath(opts->venv, venv)) {
                snprintf(dir, sizeof dir, "%s/lib/python" PYLAUNCHD_PY_XY "/site-packages", venv);
                if ((r = check_path_entry(venv, uid, why, sizeof why)) < 0)
                        return refuse_path_entry(venv, "--venv", r, why);
                if ((r = check_path_entry(dir, uid, why, sizeof why)) < 0)
                        return refuse_path_entry(dir, "--venv", r, why);
        }
        return EXIT_OK;
}

/* After start: every entry, whoever put it there (the interpreter, site, a .pth file). */
static int check_sys_path(uid_t uid) {
        PyObject *path = PySys_GetObject("path");
        char why[PATH_MAX + 128];

        for (Py_ssize_t i = 0; path && PyList_Check(path) && i < PyList_GET_SIZE(path); i++) {
                PyObject *item = PyList_GET_ITEM(path, i), *bytes;
                int r = 0;

                if (!PyUnicode_Check(item))
                        continue;
                bytes = PyUnicode_EncodeFSDefault(item);
                if (!bytes) {
                        PyErr_Clear();
                        continue;
                }
                r = check_path_entry(PyBytes_AS_STRING(bytes), uid, why, sizeof why);
                if (r < 0)
                        r = refuse_path_entry(PyBytes_AS_STRING(bytes), "the interpreter's path, --site or --venv", r, why);
                Py_DECREF(bytes);
                if (r != 0)
                        return r;
        }
        return EXIT_OK;
}

/* Under a service manager stdout is a pipe or the journal's socket, which Python buffers in 8 KiB
 * blocks: an agent's print() would reach the log at the next idle exit, not when it happens.
 * Line-buffered, as on a terminal (stderr already is). -u makes it unbuffered instead. */
static int line_buffered_stdout(void) {
        PyObject *out = PySys_GetObject("stdout"), *args, *kw, *r = NULL;

        if (!out || out == Py_None || isatty(STDOUT_FILENO))
                return 0;
        args = PyTuple_New(0);
        kw = Py_BuildValue("{s:O}", "line_buffering", Py_True);
        if (args && kw) {
                PyObject *reconfigure = PyObject_GetAttrString(out, "reconfigure");
                r = reconfigure ? PyObject_Call(reconfigure, args, kw) : NULL;
                Py_XDECREF(reconfigure);
        }
        Py_XDECREF(args);
        Py_XDECREF(kw);
        if (!r) {
                PyErr_Clear();
                return -1;
        }
        Py_DECREF(r);
        return 0;
}

int interp_start(const struct options *opts, const struct agent *agent) {
        PyObject *path, *dir;
        bool strict = !opts->no_strict_modes;
        int r;

        if (strict && opts->site && (r = check_site_dirs(opts, geteuid())) != EXIT_OK)
                return r;
        r = start(opts->agent_argc, opts->agent_argv, opts, !agent->dir_shared);
        if (r != EXIT_OK)
                return r;
        if (strict && (r = check_sys_path(geteuid())) != EXIT_OK)
                return r;
        if (!opts->unbuffered && line_buffered_stdout() < 0)
                log_warning("cannot make stdout line-buffered, ignoring");
        /* sys.argv[0] as the agent's resolved path, as `python3 Agent.py` would show it. */
        path = PySys_GetObject("argv");
        dir = PyUnicode_DecodeFSDefault(agent->path);
        r = dir && path ? PyList_SetItem(path, 0, dir) : -1; /* steals dir */
        path = PySys_GetObject("path");
        dir = PyUnicode_DecodeFSDefault(agent->dir);
        if (r < 0 || !path || !dir || PyList_Insert(path, 0, dir) < 0) {
                Py_XDECREF(dir);
                interp_exception_status("cannot set sys.argv and sys.path");
                return EXIT_AGENT_FAILED;
        }
        Py_DECREF(dir);
        return EXIT_OK;
}

/* The pending exception's last traceback line, "SyntaxError: invalid syntax (Agent.py, line 3)",
 * into buf; the exception stays pending. What a service manager's STATUS= can show. */
static void exception_line(char *buf, size_t size) {
        PyObject *type, *value, *tb, *text;
        const char *msg;

        buf[0] = '\0';
        PyErr_Fetch(&type, &value, &tb);
        PyErr_NormalizeException(&type, &value, &tb);
        text = value ? PyObject_Str(value) : NULL;
        msg = text ? PyUnicode_AsUTF8(text) : NULL;
        if (!msg)
                PyErr_Clear();
        if (type && PyType_Check(type))
                snprintf(buf, size, "%s%s%s", ((PyTypeObject *)type)->tp_name, msg && *msg ? ": " : "", msg ? msg : "");
        /* One line: a message may span several. */
        buf[strcspn(buf, "\n")] = '\0';
        Py_XDECREF(text);
        PyErr_Restore(type, value, tb);
}

static PyObject *get_callable(PyObject *module, const char *name) {
        PyObject *f = PyObject_GetAttrString(module, name);

        if (!f) {
                PyErr_Clear();
                return NULL;
        }
        if (!PyCallable_Check(f)) {
                log_warning("%s in the agent is not callable, ignoring it", name);
                Py_DECREF(f);
                return NULL;
        }
        return f;
}

int interp_load_agent(struct agent *agent) {
        PyObject *stdlib, *name;
        int clash, status;

        agent->launcher = module_load("pylaunchd");
        if (!agent->launcher) {
                interp_exception_status("cannot load the built-in pylaunchd module");
                return EXIT_AGENT_FAILED;
        }
        agent->conn_type = PyObject_GetAttrString(agent->launcher, "Connection");
        agent->dgram_type = agent->conn_type ? PyObject_GetAttrString(agent->launcher, "Datagram") : NULL;
        name = agent->dgram_type ? PyUnicode_FromString(agent->name) : NULL;
        if (!name) {
                interp_exception_status("cannot import the agent");
                return EXIT_AGENT_FAILED;
        }
        /* The agent is sys.modules[its name]: one named like a standard module (socket.py) would be
         * imported in its place by every library. */
        stdlib = PySys_GetObject("stdlib_module_names");
        clash = stdlib ? PySet_Contains(stdlib, name) : 0;
        if (clash == 0)
                clash = PyDict_Contains(PyImport_GetModuleDict(), name);
        if (clash != 0) {
                Py_DECREF(name);
                PyErr_Clear();
                log_error("agent %s: '%s' is already the name of a Python module, which the agent would "
                          "hide or be hidden by; rename the file (e.g. %s_agent.py)",
                          agent->path, agent->name, agent->name);
                return EXIT_AGENT_BROKEN;
        }
        Py_DECREF(name);
        /* Off since start(): the agent's own code runs with the collector it expects. */
        gc_resume();
        agent->module = PyObject_CallMethod(agent->launcher, "_load_agent", "ssO", agent->name, agent->path,
                                            agent->dir_shared ? Py_True : Py_False);
        if (!agent->module) {
                char what[4200];
                snprintf(what, sizeof what, "agent %s failed to import", agent->path);
                exception_line(agent->error, sizeof agent->error);
                status = interp_exception_status(what);
                if (status < 0)
                        return EXIT_AGENT_BROKEN;
                /* sys.exit(n) while importing, even sys.exit(0): the agent chose to end here. */
                agent->exit_requested = true;
                return status;
        }
        agent->handle = get_callable(agent->module, "handle");
        agent->serve = get_callable(agent->module, "serve");
        if (!agent->handle && !agent->serve) {
                snprintf(agent->error, sizeof agent->error, "it defines neither handle(conn) nor serve(listeners)");
                log_error("agent %s defines neither handle(conn) nor serve(listeners); add one, "
                          "e.g.\n    def handle(conn):\n        conn.sendall(conn.recv(4096))",
                          agent->path);
                return EXIT_AGENT_NO_HANDLER;
        }
        return EXIT_OK;
}

int interp_reload_agent(struct agent *agent) {
        PyObject *m, *handle, *serve;

        m = PyObject_CallMethod(agent->launcher, "_fresh_import", "ss", agent->name, agent->path);
        if (!m) {
                exception_line(agent->error, sizeof agent->error);
                if (interp_exception_status("reloading the agent failed; keeping the code already loaded") >= 0) {
                        log_error("the agent called sys.exit() while reloading; keeping the code already loaded");
                        snprintf(agent->error, sizeof agent->error, "it called sys.exit() while imported");
                }
                return -1;
        }
        handle = get_callable(m, "handle");
        serve = get_callable(m, "serve");
        /* The loop that runs is the one already chosen: the new code must fit it. */
        if ((agent->handle && !handle) || (!agent->handle && !serve)) {
                log_error("reloaded agent %s lacks the %s the running loop calls; keeping the code already loaded",
                          agent->path, agent->handle ? "handle(conn)" : "serve(listeners)");
                snprintf(agent->error, sizeof agent->error, "it lacks the %s the running loop calls",
                         agent->handle ? "handle(conn)" : "serve(listeners)");
                Py_XDECREF(handle);
                Py_XDECREF(serve);
                Py_DECREF(m);
                return -1;
        }
        Py_SETREF(agent->module, m);
        Py_XSETREF(agent->handle, handle);
        Py_XSETREF(agent->serve, serve);
        agent->error[0] = '\0';
        log_info("reloaded agent %s", agent->path);
        return 0;
}

/* SystemExit's code as exit() would treat it: None is 0, an int is itself, anything else is
 * printed and gives 1. */
static int system_exit_status(PyObject *exc) {
        PyObject *code = exc ? PyObject_GetAttrString(exc, "code") : NULL;
        int status = 1;

        if (!code)
                PyErr_Clear();
        else if (code == Py_None)
                status = 0;
        else if (PyLong_Check(code)) {
                long v = PyLong_AsLong(code);
                status = (v == -1 && PyErr_Occurred()) ? 1 : (int)(v & 0xff);
                PyErr_Clear();
        } else {
                PyObject_Print(code, stderr, Py_PRINT_RAW);
                fputc('\n', stderr);
        }
        Py_XDECREF(code);
        return status;
}

int interp_exception_status(const char *what) {
        PyObject *type, *value, *tb;
        int status;

        if (!PyErr_Occurred())
                return -1;
        if (PyErr_ExceptionMatches(PyExc_SystemExit)) {
                PyErr_Fetch(&type, &value, &tb);
                PyErr_NormalizeException(&type, &value, &tb);
                status = system_exit_status(value);
                Py_XDECREF(type);
                Py_XDECREF(value);
                Py_XDECREF(tb);
                return status;
        }
        log_error("%s:", what);
        PyErr_PrintEx(0); /* not SystemExit, so this only prints */
        return -1;
}

/* The launcher's own absolute path, for units and plists that must name it. */
static void self_path(char *buf, size_t size, const char *argv0) {
#ifdef __APPLE__
        uint32_t n = (uint32_t)size;
        char raw[PATH_MAX];
        if (_NSGetExecutablePath(raw, &n) == 0 && realpath(raw, buf))
                return;
#else
        if (realpath("/proc/self/exe", buf))
                return;
#endif
        if (!realpath(argv0, buf))
                snprintf(buf, size, "%s", argv0);
}

int interp_run_tool(const char *module, int argc, char **argv) {
        char exe[PATH_MAX];
        PyObject *m, *r;
        int status;

        self_path(exe, sizeof exe, argv[0]);
        module_set_executable(exe);
        status = start(argc, argv, NULL, true);
        if (status != EXIT_OK)
                return status;
        PyGC_Enable(); /* off through start-up only (start()) */
        m = module_load(module);
        r = m ? PyObject_CallMethod(m, "main", NULL) : NULL;
        if (r) {
                status = PyLong_Check(r) ? (int)PyLong_AsLong(r) : EXIT_OK;
                Py_DECREF(r);
        } else {
                status = interp_exception_status(argv[0]);
                if (status < 0)
                        status = EXIT_AGENT_FAILED;
        }
        Py_XDECREF(m);
        if (Py_FinalizeEx() < 0 && status == EXIT_OK)
                status = EXIT_RUNTIME;
        return status;
}

void interp_flush(void) {
        static const char *const names[] = { "stdout", "stderr" };

        for (size_t i = 0; i < 2; i++) {
                PyObject *f = PySys_GetObject(names[i]), *r;
                if (!f || f == Py_None)
                        continue;
                r = PyObject_CallMethod(f, "flush", NULL);
                if (!r)
                        PyErr_Clear();
                Py_XDECREF(r);
        }
}

void interp_finish(struct agent *agent) {
        Py_CLEAR(agent->handle);
        Py_CLEAR(agent->serve);
        Py_CLEAR(agent->module);
        Py_CLEAR(agent->launcher);
        Py_CLEAR(agent->conn_type);
        Py_CLEAR(agent->dgram_type);
        if (Py_FinalizeEx() < 0)
                log_warning("Python could not flush its output at exit, ignoring");
}
