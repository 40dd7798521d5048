# Builds llama-cpp-python with only what kral_nb's `local` provider loads: passed as
# CMAKE_ARGS="-DCMAKE_PROJECT_INCLUDE=<this file>" by the README's install command,
# .ci/run and binder/postBuild (tests/test_cli.py keeps the three in agreement).
#
# llama-cpp-python forces the cache variable LLAMA_BUILD_COMMON=ON, but its Python package
# never loads llama.cpp's `common` library (it ships libllama, libggml* and, with
# LLAVA_BUILD, libmtmd, which the README turns off): it was ~490 of the build's ~1,100
# CPU-seconds on 2 cores (bench/install.py). CMake includes this file after every project()
# call; in llama.cpp's project a normal variable of the same name shadows the forced cache
# entry for llama.cpp's directories (its option() leaves a normal variable alone, CMP0077),
# so `common` is neither built nor installed. Nothing else changes: llama.cpp's tests,
# tools, examples and server are already off when it is built as a subproject.
if(PROJECT_NAME STREQUAL "llama.cpp")
    set(LLAMA_BUILD_COMMON OFF)
    message(STATUS "kral_nb: llama.cpp without its common library (cmake/llama-lean.cmake)")
endif()
