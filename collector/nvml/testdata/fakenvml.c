// fakenvml.c is a stand-in for libnvidia-ml.so.1 that lets the tests drive
// the real go-nvml adapter on a machine without a GPU. It exports only the
// entry points the adapter uses, with the C ABI of nvml.h, and reports three
// GPUs:
//
//   0  GPU-00000000-0000-0000-0000-000000000000, a whole H100: every reading.
//   1  GPU-11111111-1111-1111-1111-111111111111, in MIG mode: utilization not
//      supported, MIG devices in slots 0 and 2 (slot 1 empty), and power
//      usage failing with NVML_ERROR_UNKNOWN.
//   2  a GPU that fell off the bus: its UUID fails with NVML_ERROR_GPU_IS_LOST.
//
// Built with -DOMIT_POWER_LIMIT it lacks nvmlDeviceGetEnforcedPowerLimit, as
// a driver too old for the agent would.
#include <string.h>

typedef int nvmlReturn_t; // enum nvmlReturn_enum
enum {
	NVML_SUCCESS = 0,
	NVML_ERROR_UNINITIALIZED = 1,
	NVML_ERROR_INVALID_ARGUMENT = 2,
	NVML_ERROR_NOT_SUPPORTED = 3,
	NVML_ERROR_NOT_FOUND = 6,
	NVML_ERROR_GPU_IS_LOST = 15,
	NVML_ERROR_UNKNOWN = 999,
};

typedef struct { unsigned int gpu, memory; } nvmlUtilization_t;
typedef struct { unsigned long long total, free, used; } nvmlMemory_t;

struct nvmlDevice_st {
	int index;  // NVML index of the GPU, or of the parent GPU for a MIG device
	int mig;    // 1 + MIG slot for a MIG device, 0 for a GPU
};
typedef struct nvmlDevice_st *nvmlDevice_t;

static struct nvmlDevice_st gpus[3] = {{0, 0}, {1, 0}, {2, 0}};
static struct nvmlDevice_st migs[3] = {{1, 1}, {1, 2}, {1, 3}};
static int initialized;

nvmlReturn_t nvmlInit_v2(void) { initialized = 1; return NVML_SUCCESS; }
nvmlReturn_t nvmlShutdown(void) { initialized = 0; return NVML_SUCCESS; }

const char *nvmlErrorString(nvmlReturn_t r) {
	switch (r) {
	case NVML_SUCCESS: return "Success";
	case NVML_ERROR_UNINITIALIZED: return "Uninitialized";
	case NVML_ERROR_NOT_SUPPORTED: return "Not Supported";
	case NVML_ERROR_NOT_FOUND: return "Not Found";
	case NVML_ERROR_GPU_IS_LOST: return "GPU is lost";
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
	*n = 3;
	return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetHandleByIndex_v2(unsigned int i, nvmlDevice_t *d) {
	if (!initialized) return NVML_ERROR_UNINITIALIZED;
	if (i >= 3) return NVML_ERROR_INVALID_ARGUMENT;
	*d = &gpus[i];
	return NVML_SUCCESS;
}

static const char *gpuUUIDs[2] = {
	"GPU-00000000-0000-0000-0000-000000000000",
	"GPU-11111111-1111-1111-1111-111111111111",
};
static const char *migUUIDs[3] = {
	"MIG-10000000-0000-0000-0000-000000000000",
	"MIG-11111111-1111-1111-1111-111111111111", // slot 1: never handed out
	"MIG-12000000-0000-0000-0000-000000000000",
};

nvmlReturn_t nvmlDeviceGetUUID(nvmlDevice_t d, char *uuid, unsigned int len) {
	if (d->mig) return copy(migUUIDs[d->mig - 1], uuid, len);
	if (d->index == 2) return NVML_ERROR_GPU_IS_LOST;
	return copy(gpuUUIDs[d->index], uuid, len);
}

nvmlReturn_t nvmlDeviceGetName(nvmlDevice_t d, char *name, unsigned int len) {
	return copy("NVIDIA H100 80GB HBM3", name, len);
}

nvmlReturn_t nvmlDeviceGetUtilizationRates(nvmlDevice_t d, nvmlUtilization_t *u) {
	if (d->index == 1) return NVML_ERROR_NOT_SUPPORTED; // MIG mode
	u->gpu = 42;
	u->memory = 17;
	return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetMemoryInfo(nvmlDevice_t d, nvmlMemory_t *m) {
	m->total = 85520809984ULL; // 79.6 GiB
	m->used = 10737418240ULL;  // 10 GiB
	m->free = m->total - m->used;
	return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetPowerUsage(nvmlDevice_t d, unsigned int *mw) {
	if (d->index == 1) return NVML_ERROR_UNKNOWN;
	*mw = 312500;
	return NVML_SUCCESS;
}

#ifndef OMIT_POWER_LIMIT
nvmlReturn_t nvmlDeviceGetEnforcedPowerLimit(nvmlDevice_t d, unsigned int *mw) {
	*mw = 700000;
	return NVML_SUCCESS;
}
#endif

nvmlReturn_t nvmlDeviceGetMigMode(nvmlDevice_t d, unsigned int *current, unsigned int *pending) {
	if (d->index != 1) return NVML_ERROR_NOT_SUPPORTED;
	*current = *pending = 1;
	return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetMaxMigDeviceCount(nvmlDevice_t d, unsigned int *n) {
	*n = 3;
	return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetMigDeviceHandleByIndex(nvmlDevice_t d, unsigned int i, nvmlDevice_t *mig) {
	if (d->index != 1 || i >= 3) return NVML_ERROR_INVALID_ARGUMENT;
	if (i == 1) return NVML_ERROR_NOT_FOUND;
	*mig = &migs[i];
	return NVML_SUCCESS;
}
