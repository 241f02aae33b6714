/* module.h: the built-in module agents import: `_pylaunchd` in C, `pylaunchd` in Python above it. */
#pragma once
#include <Python.h>
#include <stdbool.h>
#include <stdint.h>

#include "access.h"
#include "activation.h"

/* Registers _pylaunchd with the import system; must run before the interpreter starts. */
int module_register(void);
/* Records what the module reports (how the launcher was started). Before module_load(). */
void module_set_origin(enum origin origin);
/* What `pylaunchd.listeners()` and `pylaunchd.idle_timeout` report. Before module_load(). */
void module_set_listeners(const struct listener_set *set);
void module_set_idle_timeout(uint64_t usec);
/* Who may send to a datagram socket the agent reads (pylaunchd.Datagram). Before module_load(). */
void module_set_access(const struct access_policy *policy);
/* pylaunchd.set_connection_timeout(): the SO_RCVTIMEO/SO_SNDTIMEO every stream connection starts
 * with, set on fd (accepted on, or handed over as, info) before the GIL is taken. */
void module_connection_timeout(int fd, const struct sockinfo *info);
/* True once the agent has set its own STATUS= (the launcher then stops writing its own). */
bool module_agent_owns_status(void);
/* The launcher's own absolute path, for the installer (_pylaunchd.executable). */
void module_set_executable(const char *path);
/* Loads a module compiled into the binary ("pylaunchd", "_pylaunchd_install") and puts it in
 * sys.modules. GIL held. Returns a new reference, or NULL with a Python exception set. */
PyObject *module_load(const char *name);
