/* A stand-in IP camera for the tests: an RTSP server (GStreamer's rtsp-server) on 127.0.0.1:PORT
 * serving a live 640x360 MJPEG test picture at rtsp://127.0.0.1:PORT/live until it is killed.
 * Usage: rtsp_camera PORT (0: one of the kernel's choosing). Prints the port it listens on. */
#include <gst/gst.h>
#include <gst/rtsp-server/rtsp-server.h>
#include <stdio.h>
int main(int argc, char** argv) {
    gst_init(&argc, &argv);
    if (argc < 2) {
        g_printerr("usage: rtsp_camera PORT\n");
        return 2;
    }
    GMainLoop* loop = g_main_loop_new(NULL, FALSE);
    GstRTSPServer* server = gst_rtsp_server_new();
    gst_rtsp_server_set_address(server, "127.0.0.1");
    gst_rtsp_server_set_service(server, argv[1]);
    GstRTSPMountPoints* mounts = gst_rtsp_server_get_mount_points(server);
    GstRTSPMediaFactory* f = gst_rtsp_media_factory_new();
    gst_rtsp_media_factory_set_launch(f,
                                      "( videotestsrc is-live=true pattern=ball ! "
                                      "video/x-raw,format=I420,width=640,height=360,framerate=10/1 ! jpegenc "
                                      "! rtpjpegpay name=pay0 pt=26 )");
    gst_rtsp_media_factory_set_shared(f, TRUE);
    gst_rtsp_mount_points_add_factory(mounts, "/live", f);
    g_object_unref(mounts);
    if (gst_rtsp_server_attach(server, NULL) == 0) {
        g_printerr("rtsp_camera: cannot listen on 127.0.0.1:%s\n", argv[1]);
        return 1;
    }
    g_print("rtsp_camera: listening on 127.0.0.1:%d\n", gst_rtsp_server_get_bound_port(server));
    fflush(stdout);
    g_main_loop_run(loop);
    return 0;
}
