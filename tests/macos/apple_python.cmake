# Runs the Apple branch's libpython decision (cmake/ApplePython.cmake) in script mode, for
# crosscompile.py: cmake -DPYLAUNCHD_SOURCE_DIR=SRC -DCONFIG=PYTHON3_CONFIG -P apple_python.cmake
# prints one "-- apple-python NAME=VALUE" line for each result (lists keep their ';').
include("${PYLAUNCHD_SOURCE_DIR}/cmake/ApplePython.cmake")
pylaunchd_apple_python("${CONFIG}" libs options kind lib)
foreach(name IN ITEMS kind lib libs options)
  message(STATUS "apple-python ${name}=${${name}}")
endforeach()
