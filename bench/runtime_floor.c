/* The C counterpart of runtime_floor.cpp: a thread that sleeps, to be measured. */
#include <pthread.h>
#include <unistd.h>

static void* sleeper(void* arg) {
    sleep(30);
    return arg;
}

int main(void) {
    pthread_t thread;
    pthread_create(&thread, 0, sleeper, 0);
    pthread_join(thread, 0);
    return 0;
}
