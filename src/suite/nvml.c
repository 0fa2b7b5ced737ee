/* nvml.c - GPU clocks, temperature and power for the environment fingerprint, through NVML
 * loaded at run time (dlopen), so the program runs the same where NVML is absent. */
#include <dlfcn.h>
#include <stdio.h>

#include "suite_internal.h"

typedef int (*nvml_init_fn)(void);
typedef int (*nvml_handle_fn)(unsigned, void **);
typedef int (*nvml_clock_fn)(void *, int, unsigned *);
typedef int (*nvml_temp_fn)(void *, int, unsigned *);
typedef int (*nvml_power_fn)(void *, unsigned *);
typedef int (*nvml_driver_fn)(char *, unsigned);
typedef int (*nvml_name_fn)(void *, char *, unsigned);

enum { NVML_CLOCK_SM = 1, NVML_CLOCK_MEM = 2, NVML_TEMPERATURE_GPU = 0 };

json_t *hb_nvml_info(int device)
{
    void *lib = dlopen("libnvidia-ml.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!lib) return NULL;
    nvml_init_fn init = (nvml_init_fn)dlsym(lib, "nvmlInit_v2");
    nvml_handle_fn handle = (nvml_handle_fn)dlsym(lib, "nvmlDeviceGetHandleByIndex_v2");
    nvml_clock_fn clock = (nvml_clock_fn)dlsym(lib, "nvmlDeviceGetClockInfo");
    nvml_temp_fn temp = (nvml_temp_fn)dlsym(lib, "nvmlDeviceGetTemperature");
    nvml_power_fn power = (nvml_power_fn)dlsym(lib, "nvmlDeviceGetPowerUsage");
    nvml_driver_fn driver = (nvml_driver_fn)dlsym(lib, "nvmlSystemGetDriverVersion");
    nvml_name_fn name = (nvml_name_fn)dlsym(lib, "nvmlDeviceGetName");
    void *dev = NULL;
    json_t *j = NULL;
    if (init && handle && init() == 0 && handle((unsigned)device, &dev) == 0) {
        j = json_object();
        char buf[96];
        unsigned v;
        if (driver && driver(buf, sizeof buf) == 0) json_object_set_new(j, "driver", json_string(buf));
        if (name && name(dev, buf, sizeof buf) == 0) json_object_set_new(j, "name", json_string(buf));
        if (clock && clock(dev, NVML_CLOCK_SM, &v) == 0) json_object_set_new(j, "sm_clock_mhz", json_integer(v));
        if (clock && clock(dev, NVML_CLOCK_MEM, &v) == 0) json_object_set_new(j, "mem_clock_mhz", json_integer(v));
        if (temp && temp(dev, NVML_TEMPERATURE_GPU, &v) == 0) json_object_set_new(j, "temperature_c", json_integer(v));
        if (power && power(dev, &v) == 0) json_object_set_new(j, "power_w", json_real(v / 1000.0));
    }
    /* NVML stays loaded: unloading it while the CUDA driver holds it is not worth the risk */
    return j;
}
