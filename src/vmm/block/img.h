#pragma once
/* vivarium-vmm img: create, info and check disk images. */
int vmm_img_main (int argc, char **argv);
