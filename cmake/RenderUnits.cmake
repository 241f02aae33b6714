# render_rot13_units(OUTDIR PYLAUNCHD AGENTDIR NOTE): the ROT13 example's systemd units and init
# scripts, rendered from units/*.in (the templates `pylaunchd install` renders for any agent) with
# these paths.
function(render_rot13_units outdir pylaunchd agentdir note)
  set(GENERATED "${note}")
  set(NAME rot13)
  set(LISTEN "%t/rot13.sock")
  set(EXEC "${pylaunchd} --idle-timeout 30 ${agentdir}/Agent.py")
  configure_file("${CMAKE_SOURCE_DIR}/units/agent.socket.in" "${outdir}/rot13.socket" @ONLY)
  configure_file("${CMAKE_SOURCE_DIR}/units/agent.service.in" "${outdir}/rot13.service" @ONLY)

  set(NAME rot13-accept)
  set(LISTEN "%t/rot13-accept.sock")
  set(EXEC "${pylaunchd} ${agentdir}/Agent.py")
  configure_file("${CMAKE_SOURCE_DIR}/units/agent-accept.socket.in" "${outdir}/rot13-accept.socket" @ONLY)
  configure_file("${CMAKE_SOURCE_DIR}/units/agent-accept@.service.in" "${outdir}/rot13-accept@.service" @ONLY)

  set(NAME rot13-control)
  set(LISTEN "%t/rot13-control.fifo")
  set(EXEC "${pylaunchd} --idle-timeout 30 ${agentdir}/Control.py")
  configure_file("${CMAKE_SOURCE_DIR}/units/agent-fifo.socket.in" "${outdir}/rot13-control.socket" @ONLY)
  configure_file("${CMAKE_SOURCE_DIR}/units/agent.service.in" "${outdir}/rot13-control.service" @ONLY)

  # Without a service manager: init scripts that run pylaunchd --daemon --pidfile.
  set(NAME rot13)
  set(PYLAUNCHD "${pylaunchd}")
  set(AGENT "${agentdir}/Agent.py")
  configure_file("${CMAKE_SOURCE_DIR}/units/agent.init.in" "${outdir}/rot13.init" @ONLY
                 FILE_PERMISSIONS OWNER_READ OWNER_WRITE OWNER_EXECUTE GROUP_READ GROUP_EXECUTE WORLD_READ WORLD_EXECUTE)
  configure_file("${CMAKE_SOURCE_DIR}/units/agent.rc.in" "${outdir}/rot13.rc" @ONLY
                 FILE_PERMISSIONS OWNER_READ OWNER_WRITE OWNER_EXECUTE GROUP_READ GROUP_EXECUTE WORLD_READ WORLD_EXECUTE)
endfunction()
