/**
 * `herdless/nestjs`: a global Nest module providing a herdless cache, injectable and the default of
 * `@Cached`, closed on application shutdown if the module created it. Needs `@nestjs/common` (11).
 *
 * @example
 * ```ts
 * import { Controller, Get, Injectable, Module, Param } from '@nestjs/common';
 * import { Cached } from 'herdless/decorators';
 * import { HerdlessModule } from 'herdless/nestjs';
 *
 * @Injectable()
 * export class ProductService {
 *   @Cached('10m') // no cache named: the module's is the default
 *   async getProduct(id: string): Promise<Product> { return this.db.findProduct(id); }
 * }
 *
 * @Controller('products')
 * export class ProductController {
 *   constructor(private readonly products: ProductService) {}
 *
 *   @Get(':id')
 *   get(@Param('id') id: string) { return this.products.getProduct(id); }
 * }
 *
 * @Module({
 *   imports: [HerdlessModule.forRoot({ redis: { url: process.env.REDIS_URL }, namespace: 'api' })],
 *   controllers: [ProductController],
 *   providers: [ProductService],
 * })
 * export class AppModule {}
 * ```
 *
 * @module herdless/nestjs
 */
export { HerdlessModule } from './module';
export { HERDLESS_CACHE, InjectCache } from './tokens';
export type { HerdlessModuleOptions, HerdlessModuleAsyncOptions, HerdlessExistingCache } from './options';
