# RenderUnits.cmake: the installed files that name installed paths, rendered from their templates
# with the paths they really have: the ROT13 example's systemd units and init scripts (units/*.in,
# the templates `pylaunchd install` renders for any agent) and the Python fallback _pylaunchd.py
# (its launcher and templates). For the build tree at configure time; for an installation at
# install time, with the prefix in effect then (`cmake --install BUILD --prefix P`, DESTDIR), by
# pylaunchd_install_rendered(), which cmake_install.cmake calls. Usable in script mode.

get_filename_component(PYLAUNCHD_RENDER_SOURCE_DIR "${CMAKE_CURRENT_LIST_DIR}/.." ABSOLUTE)

# configure_file(IN OUT @ONLY) that refuses a template naming a placeholder nobody set here:
# configure_file would blank it silently (a new @SOCKET_MODE@ would lose SocketMode=0600).
macro(_pylaunchd_render in out)
  file(READ "${in}" _pylaunchd_text)
  string(REGEX MATCHALL "@[A-Z_]+@" _pylaunchd_keys "${_pylaunchd_text}")
  foreach(_pylaunchd_key IN LISTS _pylaunchd_keys)
    string(REPLACE "@" "" _pylaunchd_key "${_pylaunchd_key}")
    if(NOT DEFINED ${_pylaunchd_key})
      message(FATAL_ERROR "${in} has @${_pylaunchd_key}@, which cmake/RenderUnits.cmake does not set")
    endif()
  endforeach()
  configure_file("${in}" "${out}" @ONLY ${ARGN})
endmacro()

# render_rot13_units(OUTDIR PYLAUNCHD AGENTDIR NOTE): the ROT13 example's units and init scripts,
# with these paths.
function(render_rot13_units outdir pylaunchd agentdir note)
  set(units "${PYLAUNCHD_RENDER_SOURCE_DIR}/units")
  set(GENERATED "${note}")
  # Whole-line placeholders (launcher/install.py's render()): a unix socket's mode; no
  # Environment= and no log file, so the output goes to the journal.
  set(SOCKET_MODE "SocketMode=0600")
  set(ENVIRONMENT "")
  set(LOGGING "")
  set(NAME rot13)
  set(LISTEN "%t/rot13.sock")
  set(EXEC "${pylaunchd} --idle-timeout 30 ${agentdir}/Agent.py")
  _pylaunchd_render("${units}/agent.socket.in" "${outdir}/rot13.socket")
  _pylaunchd_render("${units}/agent.service.in" "${outdir}/rot13.service")

  set(NAME rot13-accept)
  set(LISTEN "%t/rot13-accept.sock")
  set(EXEC "${pylaunchd} ${agentdir}/Agent.py")
  _pylaunchd_render("${units}/agent-accept.socket.in" "${outdir}/rot13-accept.socket")
  _pylaunchd_render("${units}/agent-accept@.service.in" "${outdir}/rot13-accept@.service")

  set(NAME rot13-control)
  set(LISTEN "%t/rot13-control.fifo")
  set(EXEC "${pylaunchd} --idle-timeout 30 ${agentdir}/Control.py")
  _pylaunchd_render("${units}/agent-fifo.socket.in" "${outdir}/rot13-control.socket")
  _pylaunchd_render("${units}/agent.service.in" "${outdir}/rot13-control.service")

  # Without a service manager: init scripts that run pylaunchd --daemon --pidfile.
  set(NAME rot13)
  set(PYLAUNCHD "${pylaunchd}")
  set(AGENT "${agentdir}/Agent.py")
  _pylaunchd_render("${units}/agent.init.in" "${outdir}/rot13.init"
                    FILE_PERMISSIONS OWNER_READ OWNER_WRITE OWNER_EXECUTE GROUP_READ GROUP_EXECUTE WORLD_READ WORLD_EXECUTE)
  _pylaunchd_render("${units}/agent.rc.in" "${outdir}/rot13.rc"
                    FILE_PERMISSIONS OWNER_READ OWNER_WRITE OWNER_EXECUTE GROUP_READ GROUP_EXECUTE WORLD_READ WORLD_EXECUTE)
endfunction()

# A value as the inside of a Python string literal.
function(_pylaunchd_py_string out value)
  string(REPLACE "\\" "\\\\" value "${value}")
  string(REPLACE "\"" "\\\"" value "${value}")
  set(${out} "${value}" PARENT_SCOPE)
endfunction()

# render_python_fallback(OUT VERSION PYLAUNCHD UNITSDIR PLISTDIR): _pylaunchd.py, the pure-Python
# stand-in for the launcher's C module, naming this launcher and these template directories.
function(render_python_fallback out version pylaunchd unitsdir plistdir)
  _pylaunchd_py_string(PYLAUNCHD_VERSION "${version}")
  _pylaunchd_py_string(PYLAUNCHD_EXECUTABLE "${pylaunchd}")
  _pylaunchd_py_string(PYLAUNCHD_UNITS_DIR "${unitsdir}")
  _pylaunchd_py_string(PYLAUNCHD_PLIST_DIR "${plistdir}")
  configure_file("${PYLAUNCHD_RENDER_SOURCE_DIR}/launcher/_pylaunchd.py.in" "${out}" @ONLY)
endfunction()

# A GNUInstallDirs directory (relative to the prefix, or absolute) as an absolute path.
function(_pylaunchd_install_dir out dir)
  if(IS_ABSOLUTE "${dir}")
    set(${out} "${dir}" PARENT_SCOPE)
  else()
    set(${out} "${CMAKE_INSTALL_PREFIX}/${dir}" PARENT_SCOPE)
  endif()
endfunction()

# pylaunchd_install_rendered(BUILDDIR VERSION BINDIR DATADIR): at install time, render the units,
# the init scripts and _pylaunchd.py with CMAKE_INSTALL_PREFIX as it is now (what --prefix gave),
# in a scratch directory of BUILDDIR, and install them; file(INSTALL) adds DESTDIR and records
# them in install_manifest.txt. The files name the final paths, never DESTDIR's staging ones.
function(pylaunchd_install_rendered builddir version bindir datadir)
  get_filename_component(prefix "${CMAKE_INSTALL_PREFIX}" ABSOLUTE)
  set(CMAKE_INSTALL_PREFIX "${prefix}")
  _pylaunchd_install_dir(bin "${bindir}")
  _pylaunchd_install_dir(data "${datadir}")
  # The units and init scripts name these paths unquoted, where systemd and sh would split them at
  # a space or expand a % or $: refuse such a prefix rather than install files that cannot start.
  foreach(dir IN ITEMS "${bin}" "${data}")
    if(NOT dir MATCHES "^[A-Za-z0-9_./:=@+,-]+$")
      message(FATAL_ERROR "pylaunchd: cannot install to ${dir}: the systemd units and init scripts would name it "
                          "unquoted; choose a prefix of letters, digits and _ . / : = @ + , - only")
    endif()
  endforeach()
  # A directory of its own, so two installs from one build tree at once cannot mix their files.
  string(RANDOM LENGTH 12 nonce)
  set(stage "${builddir}/install-render-${nonce}")
  file(REMOVE_RECURSE "${stage}")
  render_rot13_units("${stage}/units" "${bin}/pylaunchd" "${data}/pylaunchd/agent"
                     "Rendered from units/ by cmake --install for the ROT13 example agent.")
  render_python_fallback("${stage}/python/_pylaunchd.py" "${version}" "${bin}/pylaunchd"
                         "${data}/pylaunchd/units" "${data}/pylaunchd/plist")
  file(INSTALL DESTINATION "${prefix}/lib/systemd/user" TYPE FILE
       FILES "${stage}/units/rot13.socket" "${stage}/units/rot13.service"
             "${stage}/units/rot13-accept.socket" "${stage}/units/rot13-accept@.service"
             "${stage}/units/rot13-control.socket" "${stage}/units/rot13-control.service")
  file(INSTALL DESTINATION "${data}/pylaunchd/init" TYPE PROGRAM
       FILES "${stage}/units/rot13.init" "${stage}/units/rot13.rc")
  file(INSTALL DESTINATION "${data}/pylaunchd/python" TYPE FILE FILES "${stage}/python/_pylaunchd.py")
  file(REMOVE_RECURSE "${stage}")
  # file(INSTALL) listed them in this function's scope; install_manifest.txt is written from the caller's.
  set(CMAKE_INSTALL_MANIFEST_FILES "${CMAKE_INSTALL_MANIFEST_FILES}" PARENT_SCOPE)
endfunction()
