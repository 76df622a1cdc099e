// fakenvml_utilization.c is a stand-in for libnvidia-ml.so.1 whose GPU
// utilization the test sets while the agent runs: agent_e2e_test.go compiles
// it with -DUTILIZATION_FILE='"/path"' and writes that file, one whole
// percent per GPU ("30 50 100"), each time it wants the GPUs to read
// differently. It exports only the entry points the agent's NVML adapter
// needs (collector/nvml's requiredSymbols; no MIG), with the C ABI of
// nvml.h, and reports GPUS whole GPUs with the UUIDs
// GPU-00000000-0000-0000-0000-00000000000<index>.
#include <stdio.h>
#include <string.h>

#ifndef UTILIZATION_FILE
#error "build with -DUTILIZATION_FILE='\"/path/of/the/file\"'"
#endif

#define GPUS 3

typedef int nvmlReturn_t; // enum nvmlReturn_enum
enum {
	NVML_SUCCESS = 0,
	NVML_ERROR_UNINITIALIZED = 1,
	NVML_ERROR_INVALID_ARGUMENT = 2,
	NVML_ERROR_UNKNOWN = 999,
};

typedef struct { unsigned int gpu, memory; } nvmlUtilization_t;
typedef struct { unsigned long long total, free, used; } nvmlMemory_t;

struct nvmlDevice_st { int index; };
typedef struct nvmlDevice_st *nvmlDevice_t;

static struct nvmlDevice_st gpus[GPUS] = {{0}, {1}, {2}};
static int initialized;

nvmlReturn_t nvmlInit_v2(void) { initialized = 1; return NVML_SUCCESS; }
nvmlReturn_t nvmlShutdown(void) { initialized = 0; return NVML_SUCCESS; }

const char *nvmlErrorString(nvmlReturn_t r) {
	switch (r) {
	case NVML_SUCCESS: return "Success";
	case NVML_ERROR_UNINITIALIZED: return "Uninitialized";
	case NVML_ERROR_INVALID_ARGUMENT: return "Invalid Argument";
	default: return "Unknown Error";
	}
}

static nvmlReturn_t copy(const char *s, char *buf, unsigned int len) {
	if (buf == NULL || strlen(s) + 1 > len) return NVML_ERROR_INVALID_ARGUMENT;
	strcpy(buf, s);
	return NVML_SUCCESS;
}

nvmlReturn_t nvmlSystemGetDriverVersion(char *v, unsigned int len) { return copy("999.99.99-fake", v, len); }

nvmlReturn_t nvmlDeviceGetCount_v2(unsigned int *n) {
	if (!initialized) return NVML_ERROR_UNINITIALIZED;
	*n = GPUS;
	return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetHandleByIndex_v2(unsigned int i, nvmlDevice_t *d) {
	if (!initialized) return NVML_ERROR_UNINITIALIZED;
	if (i >= GPUS) return NVML_ERROR_INVALID_ARGUMENT;
	*d = &gpus[i];
	return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetUUID(nvmlDevice_t d, char *uuid, unsigned int len) {
	char s[64];
	snprintf(s, sizeof s, "GPU-00000000-0000-0000-0000-%012d", d->index);
	return copy(s, uuid, len);
}

nvmlReturn_t nvmlDeviceGetName(nvmlDevice_t d, char *name, unsigned int len) {
	return copy("NVIDIA H100 80GB HBM3", name, len);
}

// The file is read at every call, as the driver's counters change between
// scrapes; the test replaces it atomically (rename), so a read never sees
// half of it.
nvmlReturn_t nvmlDeviceGetUtilizationRates(nvmlDevice_t d, nvmlUtilization_t *u) {
	FILE *f = fopen(UTILIZATION_FILE, "r");
	if (f == NULL) return NVML_ERROR_UNKNOWN;
	unsigned int percent[GPUS];
	int n = 0;
	while (n < GPUS && fscanf(f, "%u", &percent[n]) == 1) n++;
	fclose(f);
	if (n != GPUS) return NVML_ERROR_UNKNOWN;
	u->gpu = percent[d->index];
	u->memory = percent[d->index] / 2;
	return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetMemoryInfo(nvmlDevice_t d, nvmlMemory_t *m) {
	m->total = 85520809984ULL; // 79.6 GiB
	m->used = 10737418240ULL;  // 10 GiB
	m->free = m->total - m->used;
	return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetPowerUsage(nvmlDevice_t d, unsigned int *mw) {
	*mw = 312500;
	return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetEnforcedPowerLimit(nvmlDevice_t d, unsigned int *mw) {
	*mw = 700000;
	return NVML_SUCCESS;
}
