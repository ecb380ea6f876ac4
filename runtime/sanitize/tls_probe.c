/* The sanitizer job's check of its own leak checker (run.sh, issue #19):
   starts threads that touch a dlopen'd library's thread-local variable
   until one's dynamic TLS block lands 16 bytes past a page boundary (under
   ASan the first one does), then runs a leak check while they live. GCC
   12's libasan, with intercept_tls_get_addr=1, takes such a block for one
   with a glibc 2.19 header, records the ASan chunk header before it as the
   block's range, and LeakSanitizer's tracer faults scanning it ("Tracer
   caught signal 11"); run.sh's ASAN_OPTIONS must let this pass.

   usage: tls_probe LIB.so   (exit 0: the leak check ran; 1: no block
   landed there, so nothing was checked) */
#include <dlfcn.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <sanitizer/lsan_interface.h>

static int *(*address)(void);
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int release, hits, started;

static void *body(void *arg) {
  (void)arg;
  int *p = address();
  pthread_mutex_lock(&mu);
  if ((uintptr_t)p % 4096 == 16)
    ++hits;
  ++started;
  pthread_cond_broadcast(&cv);
  while (!release)
    pthread_cond_wait(&cv, &mu);
  pthread_mutex_unlock(&mu);
  return 0;
}

int main(int argc, char **argv) {
  void *lib = argc == 2 ? dlopen(argv[1], RTLD_NOW) : 0;
  if (!lib) {
    fprintf(stderr, "usage: tls_probe LIB.so (%s)\n", argc == 2 ? dlerror() : "no library");
    return 2;
  }
  address = (int *(*)(void))dlsym(lib, "tls_probe_address");
  if (!address) {
    fprintf(stderr, "tls_probe: %s has no tls_probe_address\n", argv[1]);
    return 2;
  }
  enum { kMaxThreads = 1000 };
  static pthread_t threads[kMaxThreads];
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, 1 << 16);
  int n = 0;
  for (; n < kMaxThreads && !hits; ++n) {
    if (pthread_create(&threads[n], &attr, body, 0) != 0)
      break;
    pthread_mutex_lock(&mu);
    while (started <= n)
      pthread_cond_wait(&cv, &mu);
    pthread_mutex_unlock(&mu);
  }
  printf("tls probe: %d thread(s), %d dynamic TLS block(s) 16 bytes past a page\n", n, hits);
  fflush(stdout);
  int leaks = __lsan_do_recoverable_leak_check();
  pthread_mutex_lock(&mu);
  release = 1;
  pthread_cond_broadcast(&cv);
  pthread_mutex_unlock(&mu);
  for (int i = 0; i < n; ++i)
    pthread_join(threads[i], 0);
  if (!hits) {
    printf("tls probe: FAIL: no block landed 16 bytes past a page, nothing checked\n");
    return 1;
  }
  printf("tls probe: the leak check ran with them alive (%s)\n", leaks ? "leaks reported" : "no leaks");
  return leaks ? 1 : 0;
}
