/* module.h: the built-in module agents import: `_pylaunchd` in C, `pylaunchd` in Python above it. */
#pragma once
#include <Python.h>

#include "activation.h"

/* Registers _pylaunchd with the import system; must run before the interpreter starts. */
int module_register(void);
/* Records what the module reports (how the launcher was started). Before module_load(). */
void module_set_origin(enum origin origin);
/* The launcher's own absolute path, for the installer (_pylaunchd.executable). */
void module_set_executable(const char *path);
/* Loads a module compiled into the binary ("pylaunchd", "_pylaunchd_install") and puts it in
 * sys.modules. GIL held. Returns a new reference, or NULL with a Python exception set. */
PyObject *module_load(const char *name);
