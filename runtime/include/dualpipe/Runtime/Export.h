/*===- dualpipe/Runtime/Export.h - Visibility of the runtime's entry points -===*
 *
 * Only the entry points marked DUALPIPE_RT_EXPORT are visible outside
 * libdualpipe_runtime (it is built with hidden visibility).
 *
 *===----------------------------------------------------------------------===*/

#ifndef DUALPIPE_RUNTIME_EXPORT_H
#define DUALPIPE_RUNTIME_EXPORT_H

#if defined(_WIN32)
#define DUALPIPE_RT_EXPORT __declspec(dllexport)
#else
#define DUALPIPE_RT_EXPORT __attribute__((visibility("default")))
#endif

#endif /* DUALPIPE_RUNTIME_EXPORT_H */
