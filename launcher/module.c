/* module.c: `_pylaunchd`, the C half of the agents' module, and the loader of the Python
 * modules marshalled into the binary at build time (pylaunchd.py, install.py). */
#include <Python.h>
#include <marshal.h>
#include <string.h>

#include "config.h"
#include "module.h"
#include "embedded.h"

#if (PYLAUNCHD_EMBED_HEXVERSION >> 16) != (PY_VERSION_HEX >> 16)
#error "embedded.h was marshalled by another Python minor version than the one embedded"
#endif

static enum origin module_origin = ORIGIN_NONE;
static const char *module_executable = "";

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

static PyMethodDef c_methods[] = {
        { "template", c_template, METH_O, "template(name) -> bytes: a template compiled into the launcher" },
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
        PyObject *m = PyModule_Create(&c_module_def);

        if (!m)
                return NULL;
        if (PyModule_AddStringConstant(m, "version", PYLAUNCHD_VERSION) < 0 ||
            PyModule_AddStringConstant(m, "started_by", origin_name(module_origin)) < 0 ||
            PyModule_AddStringConstant(m, "executable", module_executable) < 0 ||
            PyModule_AddStringConstant(m, "python", PYLAUNCHD_PYTHON) < 0) {
                Py_DECREF(m);
                return NULL;
        }
        return m;
}

int module_register(void) {
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
