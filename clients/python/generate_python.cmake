# Copies protoc's Python modules of collections/v1 from FROM to TO, moving
# their imports (and the module name their classes carry) from
# `collections.v1` (shadowed by Python's standard library) to
# `collections_api.v1`, and makes TO a package.
#   cmake -DFROM=DIR -DTO=DIR -P generate_python.cmake
file(GLOB modules RELATIVE ${FROM} ${FROM}/*.py)
if(NOT modules)
  message(FATAL_ERROR "generate_python: no modules in ${FROM}")
endif()
file(MAKE_DIRECTORY ${TO})
foreach(module ${modules})
  file(READ ${FROM}/${module} text)
  string(REGEX REPLACE "(^|\n)from collections\\.v1 import " "\\1from collections_api.v1 import "
    text "${text}")
  # The module name the message classes carry (__module__, for pickle).
  string(REPLACE "(DESCRIPTOR, 'collections.v1." "(DESCRIPTOR, 'collections_api.v1." text "${text}")
  file(WRITE ${TO}/${module} "${text}")
endforeach()
file(WRITE ${TO}/__init__.py "# The generated modules of protos/collections/v1 (package collections.v1).\n")
