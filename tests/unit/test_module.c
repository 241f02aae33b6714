/* test_module.c: the module's Python half (pylaunchd.py) in an interpreter of the test's own, as
 * an agent uses it. A pylaunchd.Datagram reads only what an allowed sender sent, whichever of its
 * six recv*() methods the agent calls: a datagram of anyone else is dropped unread, as the
 * owner-only policy drops anyone else's connection. And an import that fails (the first, or a
 * SIGHUP reload) leaves sys.modules as it was. */
#include <Python.h>
#include <unistd.h>

#include "access.h"
#include "config.h"
#include "module.h"
#include "unit.h"

static struct access_policy policy;

/* An isolated interpreter with the built-in module, as interp_start() makes it. */
static void start_python(void) {
        PyConfig config;
        PyStatus st;

        ck_assert_int_eq(module_register(), 0);
        module_set_access(&policy);
        PyConfig_InitIsolatedConfig(&config);
        config.install_signal_handlers = 0;
        config.site_import = 0;
        st = PyConfig_SetBytesString(&config, &config.executable, PYLAUNCHD_PYTHON);
        if (!PyStatus_Exception(st))
                st = PyConfig_SetString(&config, &config.home, PYLAUNCHD_PYTHON_HOME);
        if (!PyStatus_Exception(st))
                st = Py_InitializeFromConfig(&config);
        PyConfig_Clear(&config);
        ck_assert_msg(!PyStatus_Exception(st), "cannot start Python: %s", st.err_msg ? st.err_msg : "?");
}

/* Runs src in __main__ (with pylaunchd imported); a Python exception fails the test with it. */
static void run_python(const char *src) {
        PyObject *main = PyImport_AddModule("__main__"), *globals = PyModule_GetDict(main), *r;
        PyObject *m = module_load("pylaunchd");

        ck_assert_msg(m != NULL, "cannot load pylaunchd");
        PyDict_SetItemString(globals, "pylaunchd", m);
        Py_DECREF(m);
        r = PyRun_String(src, Py_file_input, globals, globals);
        if (!r) {
                PyObject *type, *value, *tb, *text;
                PyErr_Fetch(&type, &value, &tb);
                text = value ? PyObject_Repr(value) : NULL;
                ck_abort_msg("Python raised: %s", text ? PyUnicode_AsUTF8(text) : "?");
        }
        Py_DECREF(r);
}

/* Each method, on a datagram from a sender the policy refuses: BlockingIOError (the socket is
 * non-blocking), and the datagram is gone. Then from an allowed sender: read as sent. */
static const char datagram_script[] =
        "import _socket, array\n"
        "a, b = _socket.socketpair(_socket.AF_UNIX, _socket.SOCK_DGRAM)\n"
        "d = pylaunchd.Datagram(_socket.AF_UNIX, _socket.SOCK_DGRAM, 0, b.detach())\n"
        "d.setblocking(False)\n"
        "reads = {\n"
        "    'recv': lambda: d.recv(100),\n"
        "    'recvfrom': lambda: d.recvfrom(100)[0],\n"
        "    'recv_into': lambda: (lambda buf: bytes(buf[:d.recv_into(buf)]))(bytearray(100)),\n"
        "    'recvfrom_into': lambda: (lambda buf: bytes(buf[:d.recvfrom_into(buf)[0]]))(bytearray(100)),\n"
        "    'recvmsg': lambda: d.recvmsg(100)[0],\n"
        "    'recvmsg_into': lambda: (lambda buf: bytes(buf[:d.recvmsg_into([buf])[0]]))(bytearray(100)),\n"
        "}\n"
        "for name, read in reads.items():\n"
        "    a.send(b'intruder')\n"
        "    try:\n"
        "        got = read()\n"
        "    except BlockingIOError:\n"
        "        got = None\n"
        "    assert got is None, f'{name} read a refused datagram: {got!r}'\n"
        "    try:\n"
        "        left = _socket.socket.recv(d, 100)\n"
        "    except BlockingIOError:\n"
        "        left = None\n"
        "    assert left is None, f'{name} left the refused datagram queued: {left!r}'\n";

static const char allowed_script[] =
        "for name, read in reads.items():\n"
        "    a.send(name.encode())\n"
        "    got = read()\n"
        "    assert got == name.encode(), f'{name} read {got!r} from an allowed sender'\n";

START_TEST(datagram_reads_only_allowed_senders) {
        policy = (struct access_policy){ .owner = 4242 }; /* not us: our datagrams are anyone's */
        start_python();
        run_python(datagram_script);
        /* The same socket, asking for credentials, and us the owner now. */
        ck_assert_int_eq(access_prepare_datagram(PyObject_AsFileDescriptor(
                                 PyDict_GetItemString(PyModule_GetDict(PyImport_AddModule("__main__")), "d")),
                                 AF_UNIX),
                         0);
        policy.owner = geteuid();
        run_python(allowed_script);
        Py_FinalizeEx();
}
END_TEST

/* _load_agent's promise (the first import and every SIGHUP reload go through it): on failure
 * sys.modules is left as it was, with no half-imported module for the next import to find. */
START_TEST(failed_import_leaves_sys_modules_as_it_was) {
        char path[600], src[2048];

        snprintf(path, sizeof path, "%s/Broken.py", unit_tmpdir()); /* no quote in a temp dir's name */
        unit_write_file(path, "half = True\nraise RuntimeError('half imported')\n");
        snprintf(src, sizeof src,
                 "import sys\n"
                 "def load():\n"
                 "    try:\n"
                 "        pylaunchd._load_agent('Broken', '%s', True)\n"
                 "    except RuntimeError:\n"
                 "        return\n"
                 "    raise AssertionError('the import did not fail')\n"
                 "load()\n"
                 "assert 'Broken' not in sys.modules, 'a failed first import left its module behind'\n"
                 "old = type(sys)('Broken')\n"
                 "sys.modules['Broken'] = old\n"
                 "load()\n"
                 "assert sys.modules.get('Broken') is old, 'a failed reload replaced the running module'\n",
                 path);
        start_python();
        run_python(src);
        Py_FinalizeEx();
}
END_TEST

static Suite *module_suite(void) {
        Suite *s = suite_create("module");
        TCase *tc = tcase_create("pylaunchd");

        tcase_add_test(tc, datagram_reads_only_allowed_senders);
        tcase_add_test(tc, failed_import_leaves_sys_modules_as_it_was);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return unit_run(module_suite());
}
