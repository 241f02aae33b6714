# How to link libpython on macOS: the flags the interpreter's own `python3-config --embed
# --ldflags` prints, and whether the library they name is really static or shared.
#
# python.org's and Homebrew's Pythons are framework builds: the library is
# Python.framework/Versions/X.Y/Python, a dylib, and LIBPL/libpythonX.Y.a is a symbolic link to it
# (../../../Python), so a file named like a static library may be a shared one. python3-config
# prints -L LIBPL -lpythonX.Y plus LIBS and SYSLIBS (e.g. -ldl -framework CoreFoundation), which
# Apple's linker resolves to that link; so the flags are taken as printed, and what they resolve
# to is read, not guessed from its name. Kept free of if(APPLE) so that tests/macos can run it on
# Linux, in script mode, against a framework layout (tests/macos/apple_python.cmake).

# The file `-l<name>` resolves to in `dirs`, searched as Apple's ld does by default (each
# directory in turn, and in it the .tbd, the .dylib, then the .a), or "" when none.
function(pylaunchd_apple_find_lib name dirs ret)
  foreach(dir IN LISTS dirs)
    foreach(ext .tbd .dylib .a)
      if(EXISTS "${dir}/lib${name}${ext}")
        set(${ret} "${dir}/lib${name}${ext}" PARENT_SCOPE)
        return()
      endif()
    endforeach()
  endforeach()
  set(${ret} "" PARENT_SCOPE)
endfunction()

# "static" for an ar archive, "shared" for a Mach-O dylib (thin or universal) or a .tbd stub, by
# the file's first bytes once every link is followed; "" for anything else.
function(pylaunchd_apple_lib_kind path ret)
  get_filename_component(real "${path}" REALPATH)
  file(READ "${real}" magic LIMIT 8 HEX)
  if(magic STREQUAL "213c617263683e0a")                    # "!<arch>\n"
    set(${ret} static PARENT_SCOPE)
  elseif(magic MATCHES "^(cffaedfe|cefaedfe|cafebabe|2d2d2d20)")  # MH_MAGIC_64, MH_MAGIC, FAT_MAGIC, "--- "
    set(${ret} shared PARENT_SCOPE)
  else()
    set(${ret} "" PARENT_SCOPE)
  endif()
endfunction()

# Sets ret_libs (for target_link_libraries: -L, -l) and ret_options (for target_link_options:
# "SHELL:-framework NAME", which CMake would otherwise split into -framework and -lNAME, and
# -Wl,-export_dynamic with a static library) from python3-config's flags, ret_kind to static or
# shared, and ret_lib to the file -lpythonX.Y resolves to. Stops the configuration, saying why,
# when there is none. -Wl,-export_dynamic is Apple ld's spelling of GNU's --export-dynamic (its
# manual: global symbols of the executable are kept even under LTO, for plug-ins; a Mach-O
# executable exports its globals anyway), for extension modules that need the interpreter's symbols.
function(pylaunchd_apple_python config ret_libs ret_options ret_kind ret_lib)
  execute_process(COMMAND "${config}" --embed --ldflags
                  OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE rc OUTPUT_STRIP_TRAILING_WHITESPACE)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "'${config} --embed --ldflags' failed (${rc}): ${err}")
  endif()
  separate_arguments(flags UNIX_COMMAND "${out}")
  set(dirs "")
  set(name "")
  foreach(flag IN LISTS flags)
    if(flag MATCHES "^-L(.+)$")
      list(APPEND dirs "${CMAKE_MATCH_1}")
    elseif(flag MATCHES "^-l(python.*)$")
      set(name "${CMAKE_MATCH_1}")
    endif()
  endforeach()
  if(name STREQUAL "")
    message(FATAL_ERROR "'${config} --embed --ldflags' names no libpython: '${out}'")
  endif()
  # Apple's ld looks in /usr/local/lib after the -L directories (and /usr/lib, which holds no Python).
  pylaunchd_apple_find_lib("${name}" "${dirs};/usr/local/lib" lib)
  set(kind "")
  if(lib)
    pylaunchd_apple_lib_kind("${lib}" kind)
  endif()
  if(kind STREQUAL "")
    message(FATAL_ERROR "'${config} --embed --ldflags' printed '${out}', but -l${name} is no library in "
                        "'${dirs}' ('${lib}')")
  endif()
  set(libs "")
  set(options "")
  set(framework OFF)
  foreach(flag IN LISTS flags)
    if(framework)
      list(APPEND options "SHELL:-framework ${flag}")
      set(framework OFF)
    elseif(flag STREQUAL "-framework")
      set(framework ON)
    else()
      list(APPEND libs "${flag}")
    endif()
  endforeach()
  if(kind STREQUAL "static")
    list(APPEND options -Wl,-export_dynamic)
  endif()
  set(${ret_libs} "${libs}" PARENT_SCOPE)
  set(${ret_options} "${options}" PARENT_SCOPE)
  set(${ret_kind} "${kind}" PARENT_SCOPE)
  set(${ret_lib} "${lib}" PARENT_SCOPE)
endfunction()
