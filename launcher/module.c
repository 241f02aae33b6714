/* module.c: `_pylaunchd`, the C half of the agents' module, and the loader of its Python half
 * (launcher/pylaunchd.py, marshalled into the binary at build time). */
#include <Python.h>
#include <marshal.h>

#include "config.h"
#include "module.h"
#include "pylaunchd_code.h"

#if (PYLAUNCHD_CODE_HEXVERSION >> 16) != (PY_VERSION_HEX >> 16)
#error "pylaunchd_code.h was marshalled by another Python minor version than the one embedded"
#endif

static enum origin module_origin = ORIGIN_NONE;

void module_set_origin(enum origin origin) {
        module_origin = origin;
}

static struct PyModuleDef c_module_def = {
        PyModuleDef_HEAD_INIT,
        .m_name = "_pylaunchd",
        .m_doc = "The launcher's side of the pylaunchd module; import pylaunchd instead.",
        .m_size = -1,
};

static PyObject *c_module_init(void) {
        PyObject *m = PyModule_Create(&c_module_def);

        if (!m)
                return NULL;
        if (PyModule_AddStringConstant(m, "version", PYLAUNCHD_VERSION) < 0 ||
            PyModule_AddStringConstant(m, "started_by", origin_name(module_origin)) < 0) {
                Py_DECREF(m);
                return NULL;
        }
        return m;
}

int module_register(void) {
        return PyImport_AppendInittab("_pylaunchd", c_module_init) < 0 ? -ENOMEM : 0;
}

PyObject *module_load(void) {
        PyObject *code, *m;

        code = PyMarshal_ReadObjectFromString((const char *)pylaunchd_code, sizeof pylaunchd_code);
        if (!code)
                return NULL;
        m = PyImport_ExecCodeModule("pylaunchd", code);
        Py_DECREF(code);
        return m;
}
